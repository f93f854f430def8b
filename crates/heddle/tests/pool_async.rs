//! `Future` as a `std::future::Future`: awaited on tokio (multi-thread and
//! current-thread runtimes) and polled by hand with counting wakers, including
//! cancellation (an awaiting future dropped before, or just as, the task completes).

mod common;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};
use std::time::Duration;

use heddle::pool::{FutureError, ThreadPool};
use heddle::sync::Event;

use common::{poll_once, tokio_rt, CountingWaker, LONG};

fn pool(workers: usize) -> Arc<ThreadPool> {
    Arc::new(ThreadPool::builder().workers(workers).build().unwrap())
}

#[test]
fn await_on_tokio() {
    let pool = pool(2);
    let rt = tokio_rt(2);
    let got = rt.block_on(async {
        let f = pool.submit(|| 6 * 7).unwrap();
        f.await
    });
    assert_eq!(got, Ok(42));
}

#[test]
fn many_tokio_tasks_await_pool_futures() {
    let pool = pool(2);
    let rt = tokio_rt(2);
    let total = rt.block_on(async {
        let handles: Vec<_> = (0..200u64)
            .map(|i| {
                let f = pool.submit(move || i * i).unwrap();
                tokio::spawn(async move { f.await.unwrap() })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        total
    });
    assert_eq!(total, (0..200u64).map(|i| i * i).sum());
}

#[test]
fn await_on_a_current_thread_runtime_with_a_blocked_task() {
    let pool = pool(1);
    let gate = Event::new();
    let g = gate.clone();
    let f = pool
        .submit(move || {
            g.wait();
            "opened"
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let got = rt.block_on(async move {
        let opener = tokio::task::spawn_blocking(move || gate.set());
        let value = f.await;
        opener.await.unwrap();
        value
    });
    assert_eq!(got, Ok("opened"));
}

#[test]
fn a_panic_and_a_cancel_arrive_as_errors() {
    let pool = pool(1);
    let rt = tokio_rt(1);
    rt.block_on(async {
        let bad = pool.submit(|| -> u8 { panic!("async boom") }).unwrap();
        assert_eq!(
            bad.await,
            Err(FutureError::Panicked {
                message: "async boom".into()
            })
        );
        let (started, gate) = (Event::new(), Event::new());
        let (s, g) = (started.clone(), gate.clone());
        let busy = pool
            .submit(move || {
                s.set();
                g.wait();
            })
            .unwrap();
        started.wait_async().await;
        let queued = pool.submit(|| 1).unwrap();
        assert!(queued.cancel());
        assert_eq!(queued.await, Err(FutureError::Cancelled));
        gate.set();
        busy.await.unwrap();
    });
}

#[test]
fn a_timed_out_await_leaves_the_future_usable() {
    let pool = pool(1);
    let rt = tokio_rt(2);
    let gate = Event::new();
    let g = gate.clone();
    let mut f = pool
        .submit(move || {
            g.wait();
            7
        })
        .unwrap();
    rt.block_on(async {
        // `Future` is `Unpin`: await it by reference, so the timeout drops only that.
        let first = tokio::time::timeout(Duration::from_millis(5), &mut f).await;
        assert!(first.is_err(), "the task is blocked");
    });
    gate.set();
    assert_eq!(f.result_timeout(LONG), Ok(7));
}

/// A waker that counts its wake-ups and raises an event, so a test can block on it.
struct EventWaker {
    woken: Event,
    count: AtomicUsize,
}

impl Wake for EventWaker {
    fn wake(self: Arc<Self>) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.woken.set();
    }
}

#[test]
fn a_hand_polled_future_is_woken_exactly_once_when_ready() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let (s, g) = (started.clone(), gate.clone());
    let mut f = pool
        .submit(move || {
            s.set();
            g.wait();
            3
        })
        .unwrap();
    started.wait();
    let (counting, count) = CountingWaker::new();
    assert!(poll_once(Pin::new(&mut f), &counting).is_pending());
    let state = Arc::new(EventWaker {
        woken: Event::new(),
        count: AtomicUsize::new(0),
    });
    let waker = Waker::from(Arc::clone(&state));
    // Re-polling with another waker replaces the first.
    assert!(poll_once(Pin::new(&mut f), &waker).is_pending());
    // A callback makes the completer go through its slow path before waking.
    f.add_done_callback(|_| {});
    gate.set();
    state.woken.wait();
    assert_eq!(poll_once(Pin::new(&mut f), &waker), Poll::Ready(Ok(3)));
    assert_eq!(state.count.load(Ordering::SeqCst), 1);
    assert_eq!(count.wakes(), 0, "the replaced waker is not woken");
}

#[test]
fn dropping_a_registered_future_loses_nothing() {
    let pool = pool(2);
    let gate = Event::new();
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..50 {
        let (g, r) = (gate.clone(), Arc::clone(&ran));
        let mut f = pool
            .submit(move || {
                g.wait();
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        let (waker, _count) = CountingWaker::new();
        let _ = poll_once(Pin::new(&mut f), &waker);
        drop(f); // withdraws its waiter; the task still runs
    }
    gate.set();
    Arc::try_unwrap(pool).unwrap().shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 50);
}

#[test]
fn awaits_racing_completion_always_finish() {
    // Each await is polled while the worker may be completing the task at that moment.
    let pool = pool(2);
    let rt = tokio_rt(2);
    rt.block_on(async {
        for round in 0..300u32 {
            let f = pool.submit(move || round).unwrap();
            tokio::task::yield_now().await;
            assert_eq!(f.await, Ok(round));
        }
    });
}
