//! `put_async`, `get_async`, `join_async`: the same queue serving threads and tasks, on
//! tokio. The heart of it is cancellation: a dropped future must never lose an item or
//! a wake-up (the bug of flume#140 and tokio#3892). First deterministically, with
//! hand-polled futures and wakers that record being woken; then with many getters
//! cancelled at random points racing real getters, every item received exactly once.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use heddle::queue::{GetError, PutError, Queue};

mod common;
use common::{os_tid as common_tid, wait_parked};

/// A waker that counts how often it was woken.
#[derive(Default)]
struct Flag(AtomicUsize);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let f = Arc::new(Flag::default());
    (f.clone(), Waker::from(f))
}

fn woken(f: &Flag) -> usize {
    f.0.load(Ordering::SeqCst)
}

fn poll<F: Future + Unpin>(fut: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(waker))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

// ------------------------------------------------------------------------------------
// Deterministic cancellation

#[test]
fn dropped_notified_getter_passes_the_wake_up_on() {
    for q in [Queue::unbounded(), Queue::bounded(2), Queue::lifo(None)] {
        let (f1, w1) = flag();
        let (f2, w2) = flag();
        let mut g1 = q.get_async();
        let mut g2 = q.get_async();
        assert!(poll(&mut g1, &w1).is_pending());
        assert!(poll(&mut g2, &w2).is_pending());
        q.put(1).unwrap();
        assert_eq!(woken(&f1), 1, "FIFO: the first getter is woken");
        assert_eq!(woken(&f2), 0, "one item, one wake-up");
        drop(g1); // cancelled after being woken, before using it
        assert_eq!(woken(&f2), 1, "the wake-up moved on to the second getter");
        assert_eq!(poll(&mut g2, &w2), Poll::Ready(Ok(1)));
    }
}

#[test]
fn dropped_notified_putter_passes_the_wake_up_on() {
    for q in [Queue::bounded(1), Queue::priority(Some(1))] {
        q.put(0).unwrap();
        let (f1, w1) = flag();
        let (f2, w2) = flag();
        let mut p1 = q.put_async(1);
        let mut p2 = q.put_async(2);
        assert!(poll(&mut p1, &w1).is_pending());
        assert!(poll(&mut p2, &w2).is_pending());
        assert_eq!(q.get(), Ok(0));
        assert_eq!((woken(&f1), woken(&f2)), (1, 0));
        drop(p1);
        assert_eq!(woken(&f2), 1);
        assert_eq!(poll(&mut p2, &w2), Poll::Ready(Ok(())));
        assert_eq!(q.get(), Ok(2), "the cancelled put put nothing");
        assert!(q.is_empty());
    }
}

#[test]
fn rendezvous_async_getter_is_never_handed_an_item_it_could_drop() {
    // A thread putter meets two pending async getters: the first is woken to pull,
    // then dropped; the second must get the item, and the putter must return.
    let q = Queue::bounded(0);
    let (f1, w1) = flag();
    let (_f2, w2) = flag();
    let mut g1 = q.get_async();
    let mut g2 = q.get_async();
    assert!(poll(&mut g1, &w1).is_pending());
    assert!(poll(&mut g2, &w2).is_pending());
    std::thread::scope(|s| {
        let putter = s.spawn(|| q.put("x"));
        while woken(&f1) == 0 {
            std::thread::yield_now(); // the putter reaches the first getter
        }
        drop(g1);
        // g2 was woken by the pass-on (or will be polled anyway); polling pulls.
        let mut got = poll(&mut g2, &w2);
        while got.is_pending() {
            std::thread::yield_now();
            got = poll(&mut g2, &w2);
        }
        assert_eq!(got, Poll::Ready(Ok("x")));
        assert_eq!(putter.join().unwrap(), Ok(()));
    });
}

#[test]
fn cancelled_async_getters_ahead_of_a_parked_thread() {
    // Each round: three async getters register first, then a thread blocks in `get`
    // behind them (FIFO), then one item is put, so the wake-up goes to an async getter.
    // The async getters are dropped (in a rotating order, some woken, some not); the
    // thread must still get the item. Without pass-on it would sleep forever (the test
    // then fails on its receive timeout). The rendezvous putter is a thread too.
    for q in [
        Queue::unbounded(),
        Queue::bounded(2),
        Queue::priority(None),
        Queue::bounded(0),
    ] {
        let (want_tx, want_rx) = std::sync::mpsc::channel::<()>();
        let (got_tx, got_rx) = std::sync::mpsc::channel();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let q2 = q.clone();
            s.spawn(move || {
                tid_tx.send(common_tid()).unwrap();
                while want_rx.recv().is_ok() {
                    let Ok(x) = q2.get() else { return };
                    got_tx.send(x).unwrap();
                }
            });
            let tid = tid_rx.recv().unwrap();
            for round in 0..200u32 {
                let flags: Vec<_> = (0..3).map(|_| flag()).collect();
                let mut futs: Vec<_> = (0..3).map(|_| Some(q.get_async())).collect();
                for (f, (_, w)) in futs.iter_mut().zip(&flags) {
                    assert!(poll(f.as_mut().unwrap(), w).is_pending());
                }
                want_tx.send(()).unwrap();
                wait_parked(tid);
                let putter = (q.capacity() == Some(0)).then(|| {
                    let q = q.clone();
                    s.spawn(move || {
                        let _ = q.put(round);
                    })
                });
                if putter.is_none() {
                    q.put(round).unwrap();
                } else {
                    // The rendezvous putter wakes the first async getter to pull.
                    while woken(&flags[0].0) == 0 {
                        std::thread::yield_now();
                    }
                }
                for k in 0..3 {
                    drop(futs[(round as usize + k) % 3].take());
                }
                let Ok(got) = got_rx.recv_timeout(Duration::from_secs(20)) else {
                    q.shutdown(true); // release the threads, then fail
                    panic!("lost wake-up: the parked thread never got the item");
                };
                assert_eq!(got, round);
                if let Some(p) = putter {
                    p.join().unwrap();
                }
            }
            drop(want_tx);
        });
    }
}

#[test]
fn dropped_pending_put_drops_its_item_and_puts_nothing() {
    let drops = Arc::new(AtomicUsize::new(0));
    struct D(Arc<AtomicUsize>);
    impl Drop for D {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for q in [Queue::bounded(1), Queue::bounded(0)] {
        drops.store(0, Ordering::SeqCst);
        if q.capacity() == Some(1) {
            q.put(D(drops.clone())).unwrap();
        }
        let (_f, w) = flag();
        let mut p = q.put_async(D(drops.clone()));
        assert!(poll(&mut p, &w).is_pending());
        drop(p);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(q.qsize(), usize::from(q.capacity() == Some(1)));
        assert!(q.try_get().is_ok() == (q.capacity() == Some(1)));
    }
}

#[test]
fn a_future_completed_by_its_fast_path_withdraws() {
    // Registered, then an item arrives and the same future takes it on its next poll:
    // no registration is left behind to swallow a later wake-up.
    let q = Queue::unbounded();
    let (_f, w) = flag();
    let mut g = q.get_async();
    assert!(poll(&mut g, &w).is_pending());
    q.put(1).unwrap();
    assert_eq!(poll(&mut g, &w), Poll::Ready(Ok(1)));
    drop(g);
    let (f2, w2) = flag();
    let mut g2 = q.get_async();
    assert!(poll(&mut g2, &w2).is_pending());
    q.put(2).unwrap();
    assert_eq!(woken(&f2), 1);
    assert_eq!(poll(&mut g2, &w2), Poll::Ready(Ok(2)));
}

#[test]
fn shutdown_completes_pending_futures() {
    let q = Queue::<u8>::bounded(1);
    let (_f, w) = flag();
    let mut g = q.get_async();
    assert!(poll(&mut g, &w).is_pending());
    let full = Queue::bounded(1);
    full.put(1).unwrap();
    let mut p = full.put_async(2);
    assert!(poll(&mut p, &w).is_pending());
    q.shutdown(false);
    full.shutdown(false);
    assert_eq!(poll(&mut g, &w), Poll::Ready(Err(GetError)));
    assert_eq!(poll(&mut p, &w), Poll::Ready(Err(PutError(2))));
}

#[test]
fn join_async_completes_when_all_done() {
    let q = Queue::unbounded();
    q.put(1).unwrap();
    let (f, w) = flag();
    let mut j = q.join_async();
    assert!(poll(&mut j, &w).is_pending());
    q.get().unwrap();
    assert!(poll(&mut j, &w).is_pending());
    q.task_done().unwrap();
    assert_eq!(woken(&f), 1);
    assert!(poll(&mut j, &w).is_ready());
}

// ------------------------------------------------------------------------------------
// On tokio

#[test]
fn tasks_and_threads_share_a_queue() {
    let rt = runtime();
    for q in [
        Queue::bounded(1),
        Queue::bounded(8),
        Queue::unbounded(),
        Queue::bounded(0),
    ] {
        const N: u64 = 2_000;
        // Thread producer, task consumer.
        let producer = {
            let q = q.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    q.put(i).unwrap();
                }
            })
        };
        let sum = rt.block_on({
            let q = q.clone();
            async move {
                let mut sum = 0;
                for _ in 0..N {
                    sum += q.get_async().await.unwrap();
                }
                sum
            }
        });
        producer.join().unwrap();
        assert_eq!(sum, N * (N - 1) / 2);
        // Task producer, thread consumer.
        let consumer = {
            let q = q.clone();
            std::thread::spawn(move || (0..N).map(|_| q.get().unwrap()).sum::<u64>())
        };
        rt.block_on({
            let q = q.clone();
            async move {
                for i in 0..N {
                    q.put_async(i).await.unwrap();
                }
            }
        });
        assert_eq!(consumer.join().unwrap(), N * (N - 1) / 2);
    }
}

#[test]
fn async_ping_pong_on_a_rendezvous() {
    let rt = runtime();
    let (ping, pong) = (Queue::bounded(0), Queue::bounded(0));
    rt.block_on(async {
        let responder = {
            let (ping, pong) = (ping.clone(), pong.clone());
            tokio::spawn(async move {
                while let Ok(x) = ping.get_async().await {
                    pong.put_async(x + 1).await.unwrap();
                }
            })
        };
        for i in 0..500u32 {
            ping.put_async(i).await.unwrap();
            assert_eq!(pong.get_async().await, Ok(i + 1));
        }
        ping.shutdown(false);
        responder.await.unwrap();
    });
}

#[test]
fn join_async_with_task_workers() {
    let rt = runtime();
    let q = Queue::bounded(4);
    let done = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        for _ in 0..3 {
            let (q, done) = (q.clone(), done.clone());
            tokio::spawn(async move {
                while let Ok(x) = q.get_async().await {
                    done.fetch_add(x, Ordering::SeqCst);
                    q.task_done().unwrap();
                }
            });
        }
        for i in 0..300 {
            q.put_async(i).await.unwrap();
        }
        q.join_async().await;
        assert_eq!(done.load(Ordering::SeqCst), (0..300).sum::<usize>());
        q.shutdown(false);
    });
}

/// Many getters cancelled at random points (after registering, after being woken)
/// race real getters and a thread getter; producers are threads and tasks. The
/// cancelling getters stop once production is over, and only then does the test wait
/// for the last items: a wake-up swallowed by a cancelled future would leave an item in
/// the queue with every real getter asleep, which the final wait reports (nothing is
/// shut down before every item has arrived, so no shutdown broadcast can mask it).
fn cancellation_race(q: Queue<u32>) {
    const PRODUCERS: u32 = 4;
    const PER: u32 = 2_000;
    const TOTAL: usize = (PRODUCERS * PER) as usize;
    let rt = runtime();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
    let producing = Arc::new(AtomicUsize::new(1));
    rt.block_on(async {
        let mut getters = Vec::new();
        // Real async getters.
        for _ in 0..2 {
            let (q, tx) = (q.clone(), tx.clone());
            getters.push(tokio::spawn(async move {
                while let Ok(x) = q.get_async().await {
                    tx.send(x).unwrap();
                }
            }));
        }
        // Cancelling getters: poll once (registers), yield (may be woken), maybe poll
        // again, drop. An item they do get is a real receipt.
        let mut cancellers = Vec::new();
        for seed in 0..6u32 {
            let (q, tx, producing) = (q.clone(), tx.clone(), producing.clone());
            cancellers.push(tokio::spawn(async move {
                let mut x = seed.wrapping_mul(2654435761) | 1;
                while producing.load(Ordering::SeqCst) != 0 {
                    let mut fut = Box::pin(q.get_async());
                    let mut outcome =
                        std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                    if outcome.is_pending() {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        for _ in 0..(x % 3) {
                            tokio::task::yield_now().await;
                        }
                        if x % 4 == 0 {
                            outcome =
                                std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                        }
                    }
                    match outcome {
                        Poll::Ready(Ok(item)) => tx.send(item).unwrap(),
                        Poll::Ready(Err(_)) => break,
                        Poll::Pending => drop(fut),
                    }
                }
            }));
        }
        // Cancelling with tokio's own timeout.
        {
            let (q, tx, producing) = (q.clone(), tx.clone(), producing.clone());
            cancellers.push(tokio::spawn(async move {
                while producing.load(Ordering::SeqCst) != 0 {
                    match tokio::time::timeout(Duration::from_micros(50), q.get_async()).await {
                        Ok(Ok(item)) => tx.send(item).unwrap(),
                        Ok(Err(_)) => break,
                        Err(_elapsed) => {}
                    }
                }
            }));
        }
        // A thread getter too.
        let thread_getter = {
            let (q, tx) = (q.clone(), tx.clone());
            std::thread::spawn(move || {
                for x in q.iter() {
                    tx.send(x).unwrap();
                }
            })
        };
        drop(tx);
        // Producers: half threads, half tasks.
        let mut threads = Vec::new();
        let mut tasks = Vec::new();
        for p in 0..PRODUCERS {
            let q = q.clone();
            if p % 2 == 0 {
                threads.push(std::thread::spawn(move || {
                    for i in 0..PER {
                        q.put(p * PER + i).unwrap();
                    }
                }));
            } else {
                tasks.push(tokio::spawn(async move {
                    for i in 0..PER {
                        q.put_async(p * PER + i).await.unwrap();
                    }
                }));
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        producing.store(0, Ordering::SeqCst);
        for c in cancellers {
            c.await.unwrap();
        }
        // Every item must now reach a real getter without any further put or shutdown.
        let mut seen = HashSet::new();
        let all = tokio::time::timeout(Duration::from_secs(20), async {
            while seen.len() < TOTAL {
                let x = rx.recv().await.expect("getters alive");
                assert!(seen.insert(x), "{x} received twice");
            }
        })
        .await;
        assert!(
            all.is_ok(),
            "lost wake-up: {} of {TOTAL} items received, {} left in the queue",
            seen.len(),
            q.qsize()
        );
        q.shutdown(false);
        for g in getters {
            g.await.unwrap();
        }
        thread_getter.join().unwrap();
        assert!(rx.recv().await.is_none(), "nothing after the last item");
    });
}

#[test]
fn cancelled_getters_race_real_ones_unbounded() {
    cancellation_race(Queue::unbounded());
}

#[test]
fn cancelled_getters_race_real_ones_bounded() {
    cancellation_race(Queue::bounded(3));
}

#[test]
fn cancelled_getters_race_real_ones_rendezvous() {
    cancellation_race(Queue::bounded(0));
}

#[test]
fn cancelled_getters_race_real_ones_priority() {
    cancellation_race(Queue::priority(Some(4)));
}

#[test]
fn cancelled_putters_race_real_ones() {
    // Putters cancelled by a timeout either put their item or not. For a buffered
    // queue the put happens inside `poll`, so "acknowledged" and "received" match
    // exactly. For a rendezvous a getter may pull the item of a *pending* put future
    // (that is what completes a hand-off), and the timeout may drop that future before
    // it observes it: such an item is delivered, not lost, but unacknowledged. Either
    // way nothing is received twice and nothing is received that was not put.
    let rt = runtime();
    for q in [Queue::bounded(1), Queue::bounded(0)] {
        let rendezvous = q.capacity() == Some(0);
        let put = Arc::new(Mutex::new(Vec::new()));
        let got = Arc::new(Mutex::new(Vec::new()));
        rt.block_on(async {
            let getter = {
                let (q, got) = (q.clone(), got.clone());
                std::thread::spawn(move || {
                    let mine: Vec<u32> = q.iter().collect();
                    got.lock().unwrap().extend(mine);
                })
            };
            let mut tasks = Vec::new();
            for p in 0..4u32 {
                let (q, put) = (q.clone(), put.clone());
                tasks.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    for i in 0..500 {
                        let item = p * 1000 + i;
                        if let Ok(r) =
                            tokio::time::timeout(Duration::from_micros(30), q.put_async(item)).await
                        {
                            r.unwrap();
                            mine.push(item);
                        }
                    }
                    put.lock().unwrap().extend(mine);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            q.shutdown(false);
            getter.join().unwrap();
        });
        let put: HashSet<u32> = Arc::try_unwrap(put)
            .unwrap()
            .into_inner()
            .unwrap()
            .into_iter()
            .collect();
        let got_list = Arc::try_unwrap(got).unwrap().into_inner().unwrap();
        let got: HashSet<u32> = got_list.iter().copied().collect();
        assert_eq!(got.len(), got_list.len(), "an item was received twice");
        assert!(
            got.iter().all(|x| x % 1000 < 500 && x / 1000 < 4),
            "received an item never put"
        );
        if rendezvous {
            assert!(put.is_subset(&got), "an acknowledged put was not received");
        } else {
            assert_eq!(put, got);
        }
    }
}
