//! Behaviour tests for `heddle::sync::Event`, after CPython's `lock_tests.EventTests`
//! (is_set, notify, timeout, set-and-clear), plus the async side on tokio.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use common::{os_tid, poll_once, tokio_rt, wait_all_parked, Bunch, CountingWaker, LONG, SHORT};
use heddle::sync::Event;

#[test]
fn is_set_set_clear() {
    // Python's test_is_set.
    let e = Event::new();
    assert!(!e.is_set());
    e.set();
    assert!(e.is_set());
    e.set();
    assert!(e.is_set(), "set is idempotent");
    e.clear();
    assert!(!e.is_set());
    e.clear();
    assert!(!e.is_set(), "clear is idempotent");
    assert!(!Event::default().is_set());
}

#[test]
fn clones_share_one_flag_and_debug_shows_it() {
    let e = Event::new();
    let e2 = e.clone();
    assert_eq!(format!("{e:?}"), "Event { set: false }");
    e2.set();
    assert!(e.is_set());
    assert_eq!(format!("{e:?}"), "Event { set: true }");
    e.clear();
    assert!(!e2.is_set());
}

#[test]
fn wait_returns_at_once_when_set() {
    let e = Event::new();
    e.set();
    assert!(e.wait());
    assert!(e.wait_timeout(Duration::ZERO));
    assert!(e.wait_timeout(LONG));
    assert!(
        e.wait_timeout(Duration::MAX),
        "an unrepresentable timeout is no timeout"
    );
    assert!(e.is_set(), "waiting does not consume the flag");
}

#[test]
fn wait_timeout_is_false_when_not_set() {
    // Python's test_timeout.
    let e = Event::new();
    assert!(!e.wait_timeout(Duration::ZERO));
    assert!(!e.wait_timeout(SHORT));
    e.set();
    e.clear();
    assert!(!e.wait_timeout(SHORT), "a cleared flag blocks again");
    // Timed-out waits left nothing behind: a waiter started now still gets woken.
    thread::scope(|s| {
        let t = s.spawn(|| e.wait_timeout(LONG));
        e.set();
        assert!(t.join().unwrap());
    });
}

/// Start `n` waiters running `wait`, return once all of them are parked in the event.
fn parked_waiters<'scope, R: Send + 'scope>(
    s: &'scope thread::Scope<'scope, '_>,
    n: usize,
    wait: impl Fn() -> R + Send + Sync + 'scope,
) -> Bunch<'scope, R> {
    let (tx, rx) = mpsc::channel();
    let b = Bunch::start(s, n, move |_| {
        tx.send(os_tid()).unwrap();
        wait()
    });
    let tids: Vec<u32> = (0..n).map(|_| rx.recv().unwrap()).collect();
    wait_all_parked(&tids);
    b
}

#[test]
fn set_wakes_every_waiter() {
    // Python's _check_notify / test_notify.
    const N: usize = 5;
    let e = Event::new();
    for _ in 0..2 {
        thread::scope(|s| {
            let b = parked_waiters(s, N, || e.wait());
            e.set();
            assert_eq!(b.finish(), vec![true; N]);
        });
        e.clear();
        // And timed waiters likewise return true, not "timed out".
        thread::scope(|s| {
            let b = parked_waiters(s, N, || e.wait_timeout(LONG));
            e.set();
            assert_eq!(b.finish(), vec![true; N]);
        });
        e.clear();
    }
}

#[test]
fn waiter_woken_by_set_returns_true_even_if_cleared_at_once() {
    // Python's test_set_and_clear: the waiters are asleep, then set() and clear() come
    // back to back; every waiter still returns true.
    const N: usize = 5;
    let e = Event::new();
    for _ in 0..10 {
        thread::scope(|s| {
            // wait_timeout(LONG) rather than wait(): a bug fails instead of hanging.
            let b = parked_waiters(s, N, || e.wait_timeout(LONG));
            e.set();
            e.clear();
            assert_eq!(b.finish(), vec![true; N]);
        });
        assert!(!e.is_set());
    }
}

#[test]
fn set_and_clear_async_deterministic() {
    // The same guarantee for async waiters, with no threads at all: the futures are
    // registered (Pending) before set(); clear() follows at once; all complete.
    let e = Event::new();
    let (w, wakes) = CountingWaker::new();
    let mut futs: Vec<_> = (0..4).map(|_| Box::pin(e.wait_async())).collect();
    for f in &mut futs {
        assert!(poll_once(f.as_mut(), &w).is_pending());
    }
    e.set();
    e.clear();
    assert_eq!(wakes.wakes(), 4, "set woke every registered future");
    for f in &mut futs {
        assert!(poll_once(f.as_mut(), &w).is_ready());
    }
    // A future created after the clear waits for the next set.
    let mut late = pin!(e.wait_async());
    assert!(poll_once(late.as_mut(), &w).is_pending());
    e.set();
    assert!(poll_once(late.as_mut(), &w).is_ready());
}

#[test]
fn wait_async_ready_at_once_when_set() {
    let e = Event::new();
    e.set();
    let (w, wakes) = CountingWaker::new();
    let mut f = pin!(e.wait_async());
    assert_eq!(poll_once(f.as_mut(), &w), Poll::Ready(()));
    assert_eq!(wakes.wakes(), 0);
}

#[test]
fn cancelled_wait_async_futures_do_not_disturb_others() {
    let e = Event::new();
    let (w, wakes) = CountingWaker::new();
    let (wc, cancelled_wakes) = CountingWaker::new();
    let mut keep: Vec<_> = (0..3).map(|_| Box::pin(e.wait_async())).collect();
    let mut drop_me: Vec<_> = (0..3).map(|_| Box::pin(e.wait_async())).collect();
    // Interleave their registrations in the queue.
    for (k, d) in keep.iter_mut().zip(drop_me.iter_mut()) {
        assert!(poll_once(k.as_mut(), &w).is_pending());
        assert!(poll_once(d.as_mut(), &wc).is_pending());
    }
    drop(drop_me);
    // A never-polled future dropped is harmless too.
    drop(e.wait_async());
    e.set();
    assert_eq!(wakes.wakes(), 3);
    assert_eq!(cancelled_wakes.wakes(), 0, "dropped futures left the queue");
    for k in &mut keep {
        assert!(poll_once(k.as_mut(), &w).is_ready());
    }
}

#[test]
fn wait_async_on_tokio_alongside_threads() {
    const TASKS: usize = 32;
    const THREADS: usize = 4;
    let e = Event::new();
    let rt = tokio_rt(2);
    let woken_tasks = AtomicUsize::new(0);
    thread::scope(|s| {
        let threads = parked_waiters(s, THREADS, || e.wait_timeout(LONG));
        rt.block_on(async {
            let (reg_tx, mut reg_rx) = tokio::sync::mpsc::unbounded_channel();
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let e = e.clone();
                    let reg_tx = reg_tx.clone();
                    tokio::spawn(async move {
                        let mut wait = pin!(e.wait_async());
                        // Register first (poll once), tell the test, then await.
                        std::future::poll_fn(|cx| {
                            if wait.as_mut().poll(cx).is_ready() {
                                return Poll::Ready(());
                            }
                            reg_tx.send(()).unwrap();
                            Poll::Ready(())
                        })
                        .await;
                        wait.await;
                    })
                })
                .collect();
            for _ in 0..TASKS {
                reg_rx.recv().await.unwrap();
            }
            // Every task and every thread is waiting: one set wakes them all.
            e.set();
            for t in tasks {
                tokio::time::timeout(LONG, t)
                    .await
                    .expect("a task missed the set")
                    .unwrap();
                woken_tasks.fetch_add(1, Ordering::Relaxed);
            }
        });
        assert_eq!(threads.finish(), vec![true; THREADS]);
    });
    assert_eq!(woken_tasks.load(Ordering::Relaxed), TASKS);
}

#[test]
fn cancelled_wait_async_on_tokio_then_set_wakes_the_rest() {
    // Tasks repeatedly start and abandon waits (tiny timeouts, select! losers) while
    // other tasks and a thread wait for real; one set() releases every real waiter.
    const CANCELLERS: usize = 16;
    const WAITERS: usize = 16;
    let e = Event::new();
    let rt = tokio_rt(2);
    thread::scope(|s| {
        let thread_waiter = s.spawn(|| e.wait_timeout(LONG));
        rt.block_on(async {
            let cancellers: Vec<_> = (0..CANCELLERS)
                .map(|i| {
                    let e = e.clone();
                    tokio::spawn(async move {
                        let mut abandoned = 0u32;
                        for k in 0..100u64 {
                            if (i as u64 + k) % 2 == 0 {
                                let r = tokio::time::timeout(
                                    Duration::from_micros(1 + k % 20),
                                    e.wait_async(),
                                )
                                .await;
                                abandoned += u32::from(r.is_err());
                            } else {
                                tokio::select! {
                                    _ = e.wait_async() => {}
                                    _ = tokio::task::yield_now() => abandoned += 1,
                                }
                            }
                        }
                        abandoned
                    })
                })
                .collect();
            let waiters: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let e = e.clone();
                    tokio::spawn(async move { e.wait_async().await })
                })
                .collect();
            let mut abandoned = 0;
            for c in cancellers {
                abandoned += c.await.unwrap();
            }
            assert!(abandoned > 0, "the cancellation path was exercised");
            assert!(!e.is_set());
            e.set();
            for w in waiters {
                tokio::time::timeout(LONG, w)
                    .await
                    .expect("a real waiter was disturbed by the cancelled ones")
                    .unwrap();
            }
        });
        assert!(thread_waiter.join().unwrap());
    });
}

#[test]
fn reuse_over_many_set_clear_cycles() {
    // One waiter thread and the main thread hand a token back and forth through two
    // events, clearing each before use: a stale or lost set would desynchronise them.
    const ROUNDS: usize = 2_000;
    let ping = Event::new();
    let pong = Event::new();
    let seen = AtomicUsize::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..ROUNDS {
                assert!(ping.wait_timeout(LONG), "lost set on ping");
                ping.clear();
                seen.fetch_add(1, Ordering::SeqCst);
                pong.set();
            }
        });
        for r in 0..ROUNDS {
            ping.set();
            assert!(pong.wait_timeout(LONG), "lost set on pong");
            pong.clear();
            assert_eq!(seen.load(Ordering::SeqCst), r + 1);
        }
    });
}

#[test]
fn many_threads_waiting_while_set_and_clear_race() {
    // Setters and clearers race while waiters use short timed waits: nothing panics,
    // and once the flag is left set, every waiter sees it.
    const WAITERS: usize = 6;
    let e = Event::new();
    thread::scope(|s| {
        let waiters = Bunch::start(s, WAITERS, |_| {
            let mut hits = 0u32;
            for _ in 0..300 {
                hits += u32::from(e.wait_timeout(Duration::from_micros(200)));
            }
            // The flag is left set below, eventually.
            assert!(e.wait_timeout(LONG));
            hits
        });
        let toggler = s.spawn(|| {
            for _ in 0..3_000 {
                e.set();
                e.clear();
            }
            e.set();
        });
        toggler.join().unwrap();
        waiters.finish();
    });
    assert!(e.is_set());
}
