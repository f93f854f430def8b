//! `ThreadPool::scope`: tasks that borrow. These exercise the `unsafe` lifetime erasure
//! in `pool/scope.rs` from every side: borrowing shared and mutable stack data, a scope
//! returning only after every task (run, panicked or cancelled) is gone, values that
//! borrow and are dropped by the worker, nested scopes on a worker, a panicking scope
//! body, spawning after shutdown.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use heddle::pool::{FutureError, SubmitError, ThreadPool};
use heddle::sync::Event;

fn pool(workers: usize) -> ThreadPool {
    ThreadPool::builder().workers(workers).build().unwrap()
}

#[test]
fn tasks_borrow_shared_stack_data() {
    let pool = pool(2);
    let words: Vec<String> = (0..50).map(|i| format!("word{i}")).collect();
    let total: usize = pool.scope(|s| {
        let futures: Vec<_> = words.iter().map(|w| s.spawn(|| w.len()).unwrap()).collect();
        futures.into_iter().map(|f| f.result().unwrap()).sum()
    });
    assert_eq!(total, words.iter().map(String::len).sum());
}

#[test]
fn tasks_borrow_disjoint_mutable_data() {
    let pool = pool(2);
    let mut data: Vec<u64> = (0..1000).collect();
    pool.scope(|s| {
        for chunk in data.chunks_mut(100) {
            s.spawn(move || chunk.iter_mut().for_each(|x| *x *= 2))
                .unwrap();
        }
    });
    assert_eq!(data, (0..1000).map(|x| x * 2).collect::<Vec<_>>());
}

#[test]
fn the_scope_waits_for_tasks_whose_futures_were_dropped() {
    let pool = pool(2);
    let done = AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..100 {
            drop(s.spawn(|| done.fetch_add(1, Ordering::SeqCst)).unwrap());
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), 100);
}

/// A value that borrows a counter and bumps it when dropped.
struct Borrowing<'a>(&'a AtomicUsize);

impl Drop for Borrowing<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn values_that_borrow_are_dropped_before_the_scope_returns() {
    // The futures are dropped before their tasks run, so the worker drops the values
    // (with its last reference): the scope must wait for that, not just for the result.
    let pool = pool(2);
    let dropped = AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..200 {
            drop(s.spawn(|| Borrowing(&dropped)).unwrap());
        }
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 200);
}

#[test]
fn results_that_borrow_can_be_taken_inside() {
    let pool = pool(2);
    let text = String::from("hello world");
    let first = pool.scope(|s| {
        let f = s.spawn(|| text.split(' ').next().unwrap()).unwrap();
        f.result().unwrap()
    });
    assert_eq!(first, "hello");
}

#[test]
fn a_future_of_an_owned_value_may_outlive_the_scope() {
    let pool = pool(1);
    let local = [1, 2, 3];
    let f = pool.scope(|s| s.spawn(|| local.iter().sum::<i32>()).unwrap());
    assert!(f.done(), "the scope has waited for it");
    assert_eq!(f.result(), Ok(6));
}

#[test]
fn a_task_panic_fails_only_its_future() {
    let pool = pool(2);
    let n = 5;
    let (ok, failed) = pool.scope(|s| {
        let good = s.spawn(|| n * 2).unwrap();
        let bad = s.spawn(|| -> i32 { panic!("scoped boom {n}") }).unwrap();
        (good.result(), bad.result())
    });
    assert_eq!(ok, Ok(10));
    assert_eq!(
        failed,
        Err(FutureError::Panicked {
            message: "scoped boom 5".into()
        })
    );
}

#[test]
fn a_panicking_body_still_waits_for_its_tasks_then_resumes() {
    let pool = pool(2);
    let done = AtomicUsize::new(0);
    let gate = Event::new();
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            for _ in 0..10 {
                let g = gate.clone();
                let done = &done;
                s.spawn(move || {
                    g.wait();
                    done.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            }
            gate.set();
            panic!("body failed");
        })
    }));
    let payload = unwound.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"body failed"));
    assert_eq!(done.load(Ordering::SeqCst), 10);
}

#[test]
fn cancelled_scoped_tasks_release_the_scope() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let captured = String::from("borrowed");
    let ran = AtomicUsize::new(0);
    pool.scope(|s| {
        let (st, g) = (started.clone(), gate.clone());
        let busy = s
            .spawn(move || {
                st.set();
                g.wait();
            })
            .unwrap();
        started.wait();
        let queued: Vec<_> = (0..5)
            .map(|_| {
                s.spawn(|| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    captured.len()
                })
                .unwrap()
            })
            .collect();
        for f in &queued {
            assert!(f.cancel());
        }
        gate.set();
        busy.result().unwrap();
        for f in queued {
            assert_eq!(f.result(), Err(FutureError::Cancelled));
        }
    });
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn shutdown_with_cancel_releases_queued_scoped_tasks() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let local = [7; 10];
    pool.scope(|s| {
        let (st, g) = (started.clone(), gate.clone());
        s.spawn(move || {
            st.set();
            g.wait();
        })
        .unwrap();
        started.wait();
        let queued: Vec<_> = (0..3).map(|_| s.spawn(|| local.len()).unwrap()).collect();
        assert_eq!(s.pool().shutdown(false, true), 3);
        gate.set();
        for f in queued {
            assert_eq!(f.result(), Err(FutureError::Cancelled));
        }
    });
}

#[test]
fn spawning_after_shutdown_hands_the_task_back() {
    let pool = pool(1);
    pool.shutdown(true, false);
    let local = 41;
    pool.scope(|s| {
        let err = s.spawn(|| local + 1).unwrap_err();
        assert!(matches!(err, SubmitError::ShutDown(_)));
        assert_eq!(err.into_inner()(), 42);
    });
}

#[test]
fn tasks_spawn_more_tasks_through_the_scope() {
    let pool = pool(2);
    let count = AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..4 {
                    s.spawn(|| count.fetch_add(1, Ordering::SeqCst)).unwrap();
                }
            })
            .unwrap();
        }
    });
    assert_eq!(count.load(Ordering::SeqCst), 16);
}

#[test]
fn a_scope_on_the_pools_only_worker_runs_its_tasks_itself() {
    // The scope's tasks queue behind the worker that waits for them: without helping,
    // it would wait forever.
    let pool = Arc::new(pool(1));
    let p = Arc::clone(&pool);
    let f = pool
        .submit(move || {
            let data = [1u32, 2, 3, 4];
            let futures = p.scope(|s| {
                data.iter()
                    .map(|x| s.spawn(move || x * 10).unwrap())
                    .collect::<Vec<_>>()
            });
            futures
                .into_iter()
                .map(|f| f.result().unwrap())
                .sum::<u32>()
        })
        .unwrap();
    assert_eq!(f.result(), Ok(100));
}

#[test]
fn nested_scopes_on_every_worker_do_not_starve() {
    let pool = Arc::new(pool(2));
    let total = AtomicUsize::new(0);
    pool.scope(|outer| {
        for _ in 0..4 {
            let p = Arc::clone(&pool);
            let total = &total;
            outer
                .spawn(move || {
                    // Every worker ends up here, waiting for inner tasks queued behind.
                    p.scope(|inner| {
                        for _ in 0..8 {
                            inner
                                .spawn(|| total.fetch_add(1, Ordering::SeqCst))
                                .unwrap();
                        }
                    });
                })
                .unwrap();
        }
    });
    assert_eq!(total.load(Ordering::SeqCst), 32);
}

#[test]
fn scope_debug_shows_pending() {
    let pool = pool(1);
    pool.scope(|s| {
        let shown = format!("{s:?}");
        assert!(shown.contains("pending: 0"), "{shown}");
    });
}
