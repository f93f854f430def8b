//! Behaviour tests for `heddle::sync::Semaphore` and `BoundedSemaphore`, after CPython's
//! `lock_tests.SemaphoreTests` / `BoundedSemaphoreTests`, plus stress tests with exact
//! counts, and the async side (`acquire_async` on tokio, cancellation races).

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::thread;
use std::time::Duration;

use common::{
    bunch, on_panic, os_tid, poll_once, tokio_rt, wait_all_parked, wait_parked, Bunch,
    CountingWaker, Occupancy, LONG, SHORT,
};
use heddle::sync::{BoundedSemaphore, Semaphore, TooManyReleases};

static STATIC_SEM: Semaphore = Semaphore::new(2);

// ---------------------------------------------------------------------------------------
// Semaphore
// ---------------------------------------------------------------------------------------

#[test]
fn constructor_and_debug() {
    assert_eq!(Semaphore::new(0).available_permits(), 0);
    let s = Semaphore::new(3);
    assert_eq!(s.available_permits(), 3);
    let d = format!("{s:?}");
    assert!(d.contains("Semaphore") && d.contains('3'), "{d}");
    let p = STATIC_SEM.acquire();
    assert!(STATIC_SEM.available_permits() <= 1);
    assert!(format!("{p:?}").contains("SemaphorePermit"));
}

#[test]
#[should_panic(expected = "too many permits")]
fn constructor_rejects_more_than_max_permits() {
    let _ = Semaphore::new(usize::MAX);
}

#[test]
fn acquire_and_release() {
    let s = Semaphore::new(2);
    let a = s.acquire();
    assert_eq!(s.available_permits(), 1);
    let b = s.acquire();
    assert_eq!(s.available_permits(), 0);
    drop(a);
    assert_eq!(s.available_permits(), 1);
    drop(b);
    assert_eq!(s.available_permits(), 2);
    // An unbounded semaphore may be released above its initial count, as in Python.
    s.release();
    assert_eq!(s.available_permits(), 3);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .expect("a panic message")
}

/// Python's `Semaphore.release(0)` raises `ValueError` (issue 13, point 8): releasing
/// nothing is refused, and nothing changes.
#[test]
fn release_n_zero_is_rejected_as_in_python() {
    let s = Semaphore::new(2);
    let err = panic::catch_unwind(AssertUnwindSafe(|| s.release_n(0))).unwrap_err();
    let msg = panic_message(&*err);
    assert!(msg.contains("n must be one or more"), "{msg}");
    assert_eq!(s.available_permits(), 2);
    let b = BoundedSemaphore::new(2);
    drop(b.acquire());
    let err = panic::catch_unwind(AssertUnwindSafe(|| b.release_n(0))).unwrap_err();
    let msg = panic_message(&*err);
    assert!(msg.contains("n must be one or more"), "{msg}");
    assert_eq!(b.available_permits(), 2);
}

#[test]
fn forget_keeps_the_permit_until_release() {
    let s = Semaphore::new(1);
    s.acquire().forget();
    assert_eq!(s.available_permits(), 0);
    assert!(s.try_acquire().is_none());
    // Any thread may release, as in Python.
    bunch(1, |_| s.release());
    assert_eq!(s.available_permits(), 1);
}

#[test]
#[should_panic(expected = "would overflow the permit count")]
fn release_beyond_max_panics() {
    let s = Semaphore::new(usize::MAX >> 1);
    s.release();
}

#[test]
fn try_acquire() {
    let s = Semaphore::new(2);
    let a = s.try_acquire().expect("two free");
    let b = s.try_acquire().expect("one free");
    assert!(s.try_acquire().is_none());
    drop(a);
    assert!(s.try_acquire().is_some());
    drop(b);
    assert_eq!(s.available_permits(), 2);
}

#[test]
fn failed_try_acquire_and_timed_out_acquire_add_no_permit() {
    // Regression: a permit built eagerly (`bool::then_some(Permit { .. })`) and dropped
    // on failure would *release* a permit each time an acquisition fails.
    let s = Semaphore::new(0);
    for _ in 0..3 {
        assert!(s.try_acquire().is_none());
        assert!(s.acquire_timeout(Duration::ZERO).is_none());
    }
    assert!(s.acquire_timeout(SHORT).is_none());
    assert_eq!(s.available_permits(), 0);

    let b = BoundedSemaphore::new(1);
    let held = b.acquire();
    assert!(b.try_acquire().is_none());
    assert!(b.acquire_timeout(Duration::ZERO).is_none());
    assert!(b.acquire_timeout(SHORT).is_none());
    assert_eq!(b.available_permits(), 0);
    drop(held);
    assert_eq!(b.available_permits(), 1);
}

#[test]
fn try_acquire_contended() {
    // Python's test_try_acquire_contended: all permits out, every thread fails at once.
    let s = Semaphore::new(4);
    let held: Vec<_> = (0..4).map(|_| s.acquire()).collect();
    assert!(bunch(5, |_| s.try_acquire().is_none())
        .into_iter()
        .all(|x| x));
    drop(held);
    assert_eq!(s.available_permits(), 4);
}

#[test]
fn acquire_timeout() {
    let s = Semaphore::new(1);
    let p = s
        .acquire_timeout(Duration::ZERO)
        .expect("a free permit, zero timeout");
    assert!(s.acquire_timeout(Duration::ZERO).is_none());
    assert!(s.acquire_timeout(SHORT).is_none());
    // Timing out left nothing behind (Python's state-after-timeout).
    assert_eq!(s.available_permits(), 0);
    drop(p);
    assert_eq!(s.available_permits(), 1);
    assert!(s.acquire_timeout(SHORT).is_some());
    assert!(
        s.acquire_timeout(Duration::MAX).is_some(),
        "no deadline at all"
    );
}

#[test]
fn acquire_timeout_succeeds_when_released_before_deadline() {
    let s = Semaphore::new(0);
    let main_tid = os_tid();
    thread::scope(|sc| {
        sc.spawn(|| {
            wait_parked(main_tid);
            s.release();
        });
        let p = s
            .acquire_timeout(LONG)
            .expect("released long before the deadline");
        p.forget();
    });
    assert_eq!(s.available_permits(), 0);
}

#[test]
fn release_n_wakes_exactly_that_many_waiters() {
    // Python's test_acquire_contended, with release(n).
    const WAITERS: usize = 10;
    let s = Semaphore::new(7);
    for _ in 0..7 {
        s.acquire().forget();
    }
    let (tid_tx, tid_rx) = mpsc::channel();
    let (got_tx, got_rx) = mpsc::channel();
    let acquired = AtomicUsize::new(0);
    thread::scope(|sc| {
        let _rescue = on_panic(|| s.release_n(WAITERS));
        let b = Bunch::start(sc, WAITERS, |i| {
            tid_tx.send(os_tid()).unwrap();
            s.acquire().forget();
            acquired.fetch_add(1, Ordering::SeqCst);
            got_tx.send(i).unwrap();
        });
        let tids: Vec<u32> = (0..WAITERS).map(|_| tid_rx.recv().unwrap()).collect();
        wait_all_parked(&tids);
        assert_eq!(acquired.load(Ordering::SeqCst), 0);

        s.release_n(6);
        let mut first: Vec<usize> = (0..6)
            .map(|_| got_rx.recv_timeout(LONG).expect("release_n(6) woke six"))
            .collect();
        // Six permits, six takers, no more: the rest are still waiting.
        assert_eq!(acquired.load(Ordering::SeqCst), 6);
        assert_eq!(s.available_permits(), 0);

        wait_all_parked(&tids);
        s.release_n(4);
        first.extend((0..4).map(|_| got_rx.recv_timeout(LONG).expect("release_n(4) woke four")));
        b.finish();
        first.sort_unstable();
        assert_eq!(first, (0..WAITERS).collect::<Vec<_>>());
    });
    assert_eq!(acquired.load(Ordering::SeqCst), WAITERS);
    assert_eq!(s.available_permits(), 0);
}

#[test]
fn permit_dropped_during_panic_is_released() {
    let s = Semaphore::new(2);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let _p = s.acquire();
        let _q = s.acquire();
        assert_eq!(s.available_permits(), 0);
        panic!("boom with two permits");
    }));
    assert!(r.is_err());
    assert_eq!(s.available_permits(), 2);

    let r = thread::scope(|sc| {
        sc.spawn(|| {
            let _p = s.acquire();
            panic!("worker panics with a permit");
        })
        .join()
    });
    assert!(r.is_err());
    assert_eq!(s.available_permits(), 2);
}

#[test]
fn never_exceeds_its_count_under_stress() {
    const THREADS: usize = 16;
    const ITERS: usize = 10_000;
    const PERMITS: usize = 3;
    let s = Semaphore::new(PERMITS);
    let inside = Occupancy::default();
    let entries = AtomicUsize::new(0);
    bunch(THREADS, |i| {
        let mut done = 0;
        while done < ITERS {
            // Mix the three ways in.
            let permit = match i % 4 {
                0 | 1 => Some(s.acquire()),
                2 => s.try_acquire(),
                _ => s.acquire_timeout(Duration::from_micros(20)),
            };
            let Some(permit) = permit else {
                // Let the holders run (matters on a single core).
                thread::yield_now();
                continue;
            };
            let now = inside.enter();
            assert!(now <= PERMITS, "{now} holders of a Semaphore({PERMITS})");
            if done % 64 == 0 {
                thread::yield_now();
            }
            inside.leave();
            drop(permit);
            entries.fetch_add(1, Ordering::Relaxed);
            done += 1;
        }
    });
    assert!(inside.max() <= PERMITS, "max {}", inside.max());
    assert!(inside.max() > 0);
    assert_eq!(entries.load(Ordering::Relaxed), THREADS * ITERS);
    assert_eq!(s.available_permits(), PERMITS, "no permit lost or invented");
}

#[test]
fn timeouts_racing_releases_strand_no_permit() {
    // Waiters that time out just as they are woken must pass the wake-up on: at the end
    // every permit is back and a blocking acquire of all of them returns.
    const THREADS: usize = 8;
    const ITERS: usize = 3_000;
    let s = Semaphore::new(1);
    bunch(THREADS, |i| {
        for k in 0..ITERS {
            if i % 2 == 0 {
                if let Some(p) = s.acquire_timeout(Duration::from_micros((k % 7) as u64)) {
                    drop(p);
                }
            } else {
                let p = s.acquire();
                if k % 16 == 0 {
                    thread::yield_now();
                }
                drop(p);
            }
        }
    });
    assert_eq!(s.available_permits(), 1);
    let p = s.acquire_timeout(LONG).expect("the permit is there");
    drop(p);
}

// ---------------------------------------------------------------------------------------
// Semaphore, async
// ---------------------------------------------------------------------------------------

#[test]
fn acquire_async_ready_when_free_and_pending_when_not() {
    let s = Semaphore::new(1);
    let (waker, wakes) = CountingWaker::new();
    {
        let mut a = pin!(s.acquire_async());
        let Poll::Ready(p) = poll_once(a.as_mut(), &waker) else {
            panic!("a free permit must be ready at once");
        };
        assert_eq!(s.available_permits(), 0);
        let mut b = pin!(s.acquire_async());
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        drop(p); // wakes b
        assert_eq!(wakes.wakes(), 1);
        let Poll::Ready(q) = poll_once(b.as_mut(), &waker) else {
            panic!("woken for a released permit");
        };
        drop(q);
    }
    assert_eq!(s.available_permits(), 1);
}

#[test]
fn dropped_acquire_future_passes_its_wake_up_on() {
    // The cancel-safety guarantee, deterministically: A is notified for the only permit,
    // then dropped before it polls again; B must be woken and get the permit.
    let s = Semaphore::new(0);
    let (wa, a_wakes) = CountingWaker::new();
    let (wb, b_wakes) = CountingWaker::new();
    let mut b = Box::pin(s.acquire_async());
    {
        let mut a = Box::pin(s.acquire_async());
        assert!(poll_once(a.as_mut(), &wa).is_pending());
        assert!(poll_once(b.as_mut(), &wb).is_pending());
        s.release(); // FIFO: A is woken
        assert_eq!(a_wakes.wakes(), 1);
        assert_eq!(b_wakes.wakes(), 0);
    } // A dropped without taking its permit
    assert_eq!(b_wakes.wakes(), 1, "the wake-up was passed on to B");
    let Poll::Ready(p) = poll_once(b.as_mut(), &wb) else {
        panic!("B must get the permit A gave up");
    };
    drop(p);
    drop(b);
    assert_eq!(s.available_permits(), 1);
}

#[test]
fn dropped_pending_acquire_future_leaves_no_trace() {
    let s = Semaphore::new(0);
    let (w, _) = CountingWaker::new();
    for _ in 0..3 {
        let mut f = Box::pin(s.acquire_async());
        assert!(poll_once(f.as_mut(), &w).is_pending());
    }
    s.release();
    // Nobody is left waiting: the permit is simply available.
    assert_eq!(s.available_permits(), 1);
    assert!(s.try_acquire().is_some());
}

#[test]
fn async_and_thread_waiters_share_one_fifo() {
    let s = Semaphore::new(0);
    let (w, wakes) = CountingWaker::new();
    let (tid_tx, tid_rx) = mpsc::channel();
    thread::scope(|sc| {
        let t = sc.spawn(|| {
            tid_tx.send(os_tid()).unwrap();
            s.acquire().forget();
        });
        wait_parked(tid_rx.recv().unwrap());
        // The thread queued first; the future queues behind it.
        let mut f = Box::pin(s.acquire_async());
        assert!(poll_once(f.as_mut(), &w).is_pending());
        s.release();
        t.join().unwrap();
        assert_eq!(wakes.wakes(), 0, "the first release went to the thread");
        assert!(poll_once(f.as_mut(), &w).is_pending());
        s.release();
        assert_eq!(wakes.wakes(), 1);
        let Poll::Ready(p) = poll_once(f.as_mut(), &w) else {
            panic!("woken with a permit");
        };
        p.forget();
    });
    assert_eq!(s.available_permits(), 0);
}

#[test]
fn acquire_async_tasks_and_threads_exact_counts() {
    const PERMITS: usize = 3;
    const TASKS: usize = 64;
    const TASK_ITERS: u64 = 200;
    const THREADS: usize = 3;
    const THREAD_ITERS: u64 = 3_000;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let inside = Arc::new(Occupancy::default());
    let total = Arc::new(AtomicU64::new(0));
    let rt = tokio_rt(2);
    thread::scope(|sc| {
        let threads = Bunch::start(sc, THREADS, |_| {
            for k in 0..THREAD_ITERS {
                let p = sem.acquire();
                assert!(inside.enter() <= PERMITS);
                if k % 32 == 0 {
                    thread::yield_now();
                }
                inside.leave();
                drop(p);
                total.fetch_add(1, Ordering::Relaxed);
            }
        });
        rt.block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let (sem, inside, total) = (sem.clone(), inside.clone(), total.clone());
                    tokio::spawn(async move {
                        for _ in 0..TASK_ITERS {
                            let p = sem.acquire_async().await;
                            assert!(inside.enter() <= PERMITS);
                            tokio::task::yield_now().await;
                            inside.leave();
                            drop(p);
                            total.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            for t in tasks {
                tokio::time::timeout(LONG, t)
                    .await
                    .expect("a task is stuck waiting for a permit")
                    .expect("task panicked");
            }
        });
        threads.finish();
    });
    assert!(inside.max() <= PERMITS && inside.max() > 0);
    assert_eq!(
        total.load(Ordering::Relaxed),
        TASKS as u64 * TASK_ITERS + THREADS as u64 * THREAD_ITERS
    );
    assert_eq!(sem.available_permits(), PERMITS);
}

#[test]
fn cancelled_acquire_async_race_loses_no_permit() {
    // Many futures are dropped (timeouts of a few microseconds, select! losers) while
    // others complete. At the end every permit is back and nobody is stuck.
    const PERMITS: usize = 2;
    const TASKS: usize = 48;
    const ITERS: u64 = 150;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let completed = Arc::new(AtomicU64::new(0));
    let cancelled = Arc::new(AtomicU64::new(0));
    let inside = Arc::new(Occupancy::default());
    let rt = tokio_rt(2);
    thread::scope(|sc| {
        // A thread competing through the blocking path at the same time.
        let t = sc.spawn(|| {
            for _ in 0..2_000 {
                let p = sem.acquire();
                assert!(inside.enter() <= PERMITS);
                inside.leave();
                drop(p);
            }
        });
        rt.block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|i| {
                    let sem = sem.clone();
                    let (completed, cancelled, inside) =
                        (completed.clone(), cancelled.clone(), inside.clone());
                    tokio::spawn(async move {
                        for k in 0..ITERS {
                            let got = match (i + k as usize) % 3 {
                                0 => Some(sem.acquire_async().await),
                                1 => tokio::time::timeout(
                                    Duration::from_micros(1 + k % 50),
                                    sem.acquire_async(),
                                )
                                .await
                                .ok(),
                                _ => tokio::select! {
                                    p = sem.acquire_async() => Some(p),
                                    _ = tokio::task::yield_now() => None,
                                },
                            };
                            match got {
                                Some(p) => {
                                    assert!(inside.enter() <= PERMITS);
                                    tokio::task::yield_now().await;
                                    inside.leave();
                                    drop(p);
                                    completed.fetch_add(1, Ordering::Relaxed);
                                }
                                None => {
                                    cancelled.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                tokio::time::timeout(LONG, t)
                    .await
                    .expect("a task is stuck: a wake-up was lost")
                    .expect("task panicked");
            }
        });
        t.join().unwrap();
    });
    assert_eq!(
        completed.load(Ordering::Relaxed) + cancelled.load(Ordering::Relaxed),
        TASKS as u64 * ITERS
    );
    assert!(completed.load(Ordering::Relaxed) > 0);
    assert!(inside.max() <= PERMITS);
    assert_eq!(
        sem.available_permits(),
        PERMITS,
        "a cancelled future lost a permit"
    );
    // And nothing is stuck in the queue: blocking acquires of every permit return.
    let all: Vec<_> = (0..PERMITS)
        .map(|_| sem.acquire_timeout(LONG).expect("permit available"))
        .collect();
    assert!(sem.try_acquire().is_none());
    drop(all);
}

// ---------------------------------------------------------------------------------------
// BoundedSemaphore
// ---------------------------------------------------------------------------------------

#[test]
fn bounded_normal_use() {
    let s = BoundedSemaphore::new(2);
    assert_eq!(s.limit(), 2);
    assert_eq!(s.available_permits(), 2);
    let a = s.acquire();
    let b = s.try_acquire().expect("one left");
    assert!(s.try_acquire().is_none());
    assert!(s.acquire_timeout(Duration::ZERO).is_none());
    assert!(s.acquire_timeout(SHORT).is_none());
    drop(a);
    let c = s.acquire_timeout(Duration::ZERO).expect("one back");
    drop((b, c));
    assert_eq!(s.available_permits(), 2);
    let d = format!("{s:?}");
    assert!(d.contains("BoundedSemaphore") && d.contains("limit"), "{d}");
}

#[test]
fn bounded_over_release_is_an_error_and_changes_nothing() {
    // Python's BoundedSemaphoreTests.test_release_unacquired.
    let s = BoundedSemaphore::new(2);
    assert_eq!(
        s.release(),
        Err(TooManyReleases {
            limit: 2,
            released: 1
        })
    );
    assert_eq!(s.available_permits(), 2);
    s.acquire().forget();
    assert_eq!(s.release(), Ok(()));
    assert!(s.release().is_err());
    assert_eq!(s.available_permits(), 2);
}

#[test]
fn bounded_error_message_says_what_to_do() {
    let s = BoundedSemaphore::new(3);
    let err = s.release_n(2).unwrap_err();
    assert_eq!(
        err,
        TooManyReleases {
            limit: 3,
            released: 2
        }
    );
    let msg = err.to_string();
    assert!(msg.contains("released too many times"), "{msg}");
    assert!(msg.contains("releasing 2"), "{msg}");
    assert!(msg.contains("initial count of 3"), "{msg}");
    assert!(msg.contains("release only permits you acquired"), "{msg}");
    let as_error: &dyn std::error::Error = &err;
    assert_eq!(as_error.to_string(), msg);
}

#[test]
fn bounded_release_n_is_all_or_none() {
    let s = BoundedSemaphore::new(3);
    s.acquire().forget();
    s.acquire().forget();
    assert_eq!(s.available_permits(), 1);
    assert_eq!(
        s.release_n(3),
        Err(TooManyReleases {
            limit: 3,
            released: 3
        })
    );
    assert_eq!(s.available_permits(), 1, "a refused release_n adds nothing");
    assert_eq!(s.release_n(2), Ok(()));
    assert_eq!(s.available_permits(), 3);
    assert!(s.release_n(1).is_err());
}

#[test]
fn bounded_release_n_wakes_waiters() {
    const WAITERS: usize = 3;
    let s = BoundedSemaphore::new(WAITERS);
    for _ in 0..WAITERS {
        s.acquire().forget();
    }
    let (tid_tx, tid_rx) = mpsc::channel();
    thread::scope(|sc| {
        let b = Bunch::start(sc, WAITERS, |_| {
            tid_tx.send(os_tid()).unwrap();
            drop(s.acquire_timeout(LONG).expect("woken by release_n"));
        });
        let tids: Vec<u32> = (0..WAITERS).map(|_| tid_rx.recv().unwrap()).collect();
        wait_all_parked(&tids);
        s.release_n(WAITERS).unwrap();
        b.finish();
    });
    assert_eq!(s.available_permits(), WAITERS);
}

#[test]
fn bounded_permit_dropped_during_panic_is_released() {
    let s = BoundedSemaphore::new(1);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let _p = s.acquire();
        panic!("boom with a bounded permit");
    }));
    assert!(r.is_err());
    assert_eq!(s.available_permits(), 1);
    assert!(s.release().is_err(), "the panic released exactly once");
}

#[test]
fn bounded_never_exceeds_its_count_under_stress() {
    const THREADS: usize = 8;
    const ITERS: usize = 5_000;
    let s = BoundedSemaphore::new(2);
    let inside = Occupancy::default();
    bunch(THREADS, |i| {
        for _ in 0..ITERS {
            let p = if i % 2 == 0 {
                s.acquire()
            } else {
                s.acquire_timeout(LONG).expect("permits come back")
            };
            assert!(inside.enter() <= 2);
            inside.leave();
            drop(p);
        }
    });
    assert!(inside.max() <= 2 && inside.max() > 0);
    assert_eq!(s.available_permits(), 2);
    assert!(s.release().is_err());
}
