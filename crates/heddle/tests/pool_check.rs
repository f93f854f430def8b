//! Pools under heddle's checker: the workers are heddle threads and every wait of the
//! pool (an idle worker's `get`, `result`, the end of a scope, `as_completed`) goes
//! through the seam, so the deterministic scheduler runs pools like any other heddle
//! code: it finds a lost update between two tasks, and reports a task that waits for
//! a task queued behind it in a full pool as a deadlock instead of hanging.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use heddle::check::{AtomicUsize, Checker};
use heddle::pool::{as_completed, ThreadPool};
use heddle::sync::Lock;

#[test]
fn the_checker_finds_a_lost_update_between_pool_tasks() {
    let report = Checker::random().iterations(500).explore(|| {
        let pool = ThreadPool::builder().workers(2).build().unwrap();
        let counter = Arc::new(AtomicUsize::new(0));
        let futures: Vec<_> = (0..2)
            .map(|_| {
                let c = Arc::clone(&counter);
                pool.submit(move || {
                    let v = c.load(Ordering::SeqCst);
                    c.store(v + 1, Ordering::SeqCst);
                })
                .unwrap()
            })
            .collect();
        for f in futures {
            f.result().unwrap();
        }
        drop(pool); // join the workers before asserting
        assert_eq!(counter.load(Ordering::SeqCst), 2, "an update was lost");
    });
    let failure = report.expect_err("two unsynchronized read-modify-writes can interleave");
    let text = failure.to_string();
    assert!(text.contains("an update was lost"), "{text}");
    assert!(
        text.contains("submit"),
        "the trace names the submits: {text}"
    );
}

#[test]
fn the_fixed_version_passes_every_schedule_tried() {
    Checker::random().iterations(200).run(|| {
        let pool = ThreadPool::builder().workers(2).build().unwrap();
        let counter = Arc::new(Lock::new(0));
        let futures: Vec<_> = (0..3)
            .map(|_| {
                let c = Arc::clone(&counter);
                pool.submit(move || *c.lock() += 1).unwrap()
            })
            .collect();
        for f in as_completed(futures, None) {
            f.unwrap().result().unwrap();
        }
        assert_eq!(*counter.lock(), 3);
    });
}

#[test]
fn a_task_waiting_on_a_task_queued_behind_it_is_reported_as_a_deadlock() {
    let report = Checker::random().iterations(50).explore(|| {
        // One worker, busy with `outer`: `inner` can never start.
        let pool = Arc::new(ThreadPool::builder().workers(1).build().unwrap());
        let p = Arc::clone(&pool);
        let outer = pool
            .submit(move || p.submit(|| 42).unwrap().result())
            .unwrap();
        let _ = outer.result();
    });
    let failure = report.expect_err("the pool is deadlocked in every schedule");
    let text = failure.to_string();
    assert!(text.contains("deadlock"), "{text}");
    assert!(text.contains("result") && text.contains("Future"), "{text}");
}

#[test]
fn scopes_and_shutdown_under_the_checker() {
    Checker::random().iterations(100).run(|| {
        let pool = ThreadPool::builder().workers(2).build().unwrap();
        let mut data = [1u32, 2, 3, 4];
        pool.scope(|s| {
            for x in data.iter_mut() {
                drop(s.spawn(move || *x *= 10).unwrap());
            }
        });
        assert_eq!(data, [10, 20, 30, 40]);
        let queued = pool.submit(|| 5).unwrap();
        pool.shutdown(true, false);
        assert_eq!(queued.result(), Ok(5));
    });
}
