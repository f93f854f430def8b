//! `ThreadPool` and `Future`: the behaviours CPython's `Lib/test/test_concurrent_futures`
//! checks for the thread pool (submit, map with chunksize and timeout, shutdown,
//! initializers, thread names, cancel, done-callbacks), plus heddle's own (panics fail
//! one future and keep the worker, typed errors that hand the task back, queue bounds,
//! the batch path).
//!
//! Ordering without sleeps: a task that must be running or blocked before the test
//! goes on signals an `Event`, or the test waits until a thread is parked in the seam
//! (`common::wait_parked`). Timeouts appear only as the thing under test.

mod common;

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use heddle::pool::{BuildError, Future, FutureError, SubmitError, ThreadPool};
use heddle::queue::Queue;
use heddle::sync::Event;
use heddle::thread::{self, Thread};

use common::{os_tid, wait_parked, LONG, SHORT};

fn pool(workers: usize) -> ThreadPool {
    ThreadPool::builder().workers(workers).build().unwrap()
}

/// A task that signals `started`, then waits for `gate`.
fn blocker(started: &Event, gate: &Event) -> impl FnOnce() + Send + 'static {
    let (s, g) = (started.clone(), gate.clone());
    move || {
        s.set();
        g.wait();
    }
}

/// Counts how many of its clones were dropped.
#[derive(Clone, Default)]
struct DropCounter(Arc<AtomicUsize>);

struct Tracked(Arc<AtomicUsize>);

impl DropCounter {
    fn track(&self) -> Tracked {
        Tracked(Arc::clone(&self.0))
    }
    fn dropped(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ------------------------------------------------------------------------------------
// Submit and result (test_submit, ExecutorTest)

#[test]
fn submit_returns_the_value() {
    let pool = pool(2);
    assert_eq!(pool.submit(|| 2u32.pow(8)).unwrap().result(), Ok(256));
}

#[test]
fn many_submits_each_get_their_own_value() {
    let pool = pool(3);
    let futures: Vec<_> = (0..100u64)
        .map(|i| pool.submit(move || i * 3).unwrap())
        .collect();
    let got: Vec<u64> = futures.into_iter().map(|f| f.result().unwrap()).collect();
    assert_eq!(got, (0..100).map(|i| i * 3).collect::<Vec<_>>());
}

#[test]
fn a_panic_fails_only_its_own_future_and_keeps_the_worker() {
    let pool = ThreadPool::builder()
        .workers(2)
        .name_prefix("keeps")
        .build()
        .unwrap();
    let futures: Vec<_> = (0..20)
        .map(|i| {
            pool.submit(move || {
                if i % 3 == 0 {
                    panic!("task {i} failed");
                }
                (i, thread::current().name().to_owned())
            })
            .unwrap()
        })
        .collect();
    let mut names = HashSet::new();
    for (i, f) in futures.into_iter().enumerate() {
        match f.result() {
            Ok((j, name)) => {
                assert_eq!(i, j);
                assert_ne!(i % 3, 0);
                names.insert(name);
            }
            Err(FutureError::Panicked { message }) => {
                assert_eq!(i % 3, 0);
                assert_eq!(message, format!("task {i} failed"));
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    // Still exactly the two original workers.
    assert!(
        names.iter().all(|n| n == "keeps_0" || n == "keeps_1"),
        "{names:?}"
    );
    let workers = thread::enumerate()
        .into_iter()
        .filter(|t| t.name().starts_with("keeps_"))
        .count();
    assert_eq!(workers, 2);
    assert_eq!(pool.workers(), 2);
    assert_eq!(
        pool.submit(|| "still working").unwrap().result(),
        Ok("still working")
    );
}

#[test]
fn a_non_string_panic_is_described() {
    let pool = pool(1);
    let f = pool.submit(|| panic::panic_any(42u8)).unwrap();
    let err = f.result().unwrap_err();
    assert_eq!(
        err,
        FutureError::Panicked {
            message: "<non-string panic payload>".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "the task panicked: <non-string panic payload>"
    );
    assert!(err.is_panic());
}

#[test]
fn result_timeout_times_out_then_returns_then_says_taken() {
    let pool = pool(1);
    let gate = Event::new();
    let g = gate.clone();
    let mut f = pool
        .submit(move || {
            g.wait();
            "late"
        })
        .unwrap();
    assert_eq!(f.result_timeout(SHORT), Err(FutureError::TimedOut));
    assert_eq!(f.result_timeout(Duration::ZERO), Err(FutureError::TimedOut));
    assert!(!f.done());
    gate.set();
    assert_eq!(f.result_timeout(LONG), Ok("late"));
    assert!(f.done());
    assert_eq!(f.result_timeout(Duration::ZERO), Err(FutureError::Taken));
    assert_eq!(f.result(), Err(FutureError::Taken));
}

#[test]
fn an_error_is_returned_every_time() {
    let pool = pool(1);
    let mut f = pool.submit(|| -> u8 { panic!("again") }).unwrap();
    for _ in 0..3 {
        assert!(matches!(
            f.result_timeout(LONG),
            Err(FutureError::Panicked { .. })
        ));
    }
}

#[test]
fn states_pending_running_finished() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    let queued = pool.submit(|| 5).unwrap();
    started.wait();
    assert!(busy.running() && !busy.done() && !busy.cancelled());
    assert!(!queued.running() && !queued.done() && !queued.cancelled());
    gate.set();
    busy.result().unwrap();
    let mut queued = queued;
    assert_eq!(queued.result_timeout(LONG), Ok(5));
    assert!(queued.done() && !queued.running() && !queued.cancelled());
    assert!(format!("{queued:?}").contains("finished"));
}

// ------------------------------------------------------------------------------------
// Cancel (FutureTests.test_cancel)

#[test]
fn cancel_before_start_drops_the_closure_and_fails_the_future() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    started.wait();
    let drops = DropCounter::default();
    let tracked = drops.track();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let queued = pool
        .submit(move || {
            let _keep = tracked;
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert!(format!("{queued:?}").contains("pending"));
    assert!(queued.cancel());
    assert_eq!(drops.dropped(), 1, "the closure is dropped at cancel time");
    assert!(queued.cancelled() && queued.done() && !queued.running());
    assert!(queued.cancel(), "cancelling twice still says cancelled");
    gate.set();
    busy.result().unwrap();
    assert_eq!(queued.result(), Err(FutureError::Cancelled));
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a cancelled task never runs");
}

#[test]
fn cancel_fails_once_running_or_finished() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    started.wait();
    assert!(!busy.cancel());
    assert!(!busy.cancelled());
    gate.set();
    let mut done = pool.submit(|| 1).unwrap();
    assert_eq!(done.result_timeout(LONG), Ok(1));
    assert!(!done.cancel());
    busy.result().unwrap();
}

#[test]
fn dropping_a_future_does_not_cancel_its_task() {
    let pool = pool(2);
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let r = Arc::clone(&ran);
        drop(
            pool.submit(move || r.fetch_add(1, Ordering::SeqCst))
                .unwrap(),
        );
    }
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 10);
}

// ------------------------------------------------------------------------------------
// Done-callbacks (FutureTests.test_done_callback_*)

#[test]
fn done_callback_sees_the_value_before_result_returns() {
    let pool = pool(1);
    let seen = Queue::unbounded();
    let (started, gate) = (Event::new(), Event::new());
    let (s, g) = (started.clone(), gate.clone());
    let f = pool
        .submit(move || {
            s.set();
            g.wait();
            5
        })
        .unwrap();
    let q = seen.clone();
    f.add_done_callback(move |outcome| q.put(*outcome.unwrap()).unwrap());
    started.wait();
    assert!(seen.is_empty());
    gate.set();
    assert_eq!(f.result(), Ok(5));
    assert_eq!(seen.try_get(), Ok(5));
}

#[test]
fn done_callback_sees_a_panic() {
    let pool = pool(1);
    let seen = Arc::new(Mutex::new(None));
    let (started, gate) = (Event::new(), Event::new());
    let (s, g) = (started.clone(), gate.clone());
    let f = pool
        .submit(move || -> i32 {
            s.set();
            g.wait();
            panic!("test")
        })
        .unwrap();
    let slot = Arc::clone(&seen);
    f.add_done_callback(move |outcome| *slot.lock().unwrap() = Some(outcome.unwrap_err().clone()));
    started.wait();
    gate.set();
    let _ = f.result();
    assert_eq!(
        seen.lock().unwrap().clone(),
        Some(FutureError::Panicked {
            message: "test".into()
        })
    );
}

#[test]
fn done_callback_runs_on_cancel_in_the_cancelling_thread() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    started.wait();
    let f = pool.submit(|| 1).unwrap();
    let seen = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&seen);
    let me = thread::current().ident();
    f.add_done_callback(move |outcome| {
        *slot.lock().unwrap() = Some((outcome.unwrap_err().clone(), thread::current().ident()));
    });
    assert!(f.cancel());
    assert_eq!(
        seen.lock().unwrap().clone(),
        Some((FutureError::Cancelled, me))
    );
    gate.set();
    busy.result().unwrap();
}

#[test]
fn a_panicking_callback_does_not_stop_the_others() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let (s, g) = (started.clone(), gate.clone());
    let f = pool
        .submit(move || {
            s.set();
            g.wait();
            5
        })
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o1 = Arc::clone(&order);
    f.add_done_callback(move |_| {
        o1.lock().unwrap().push("raising");
        panic!("doh!");
    });
    let o2 = Arc::clone(&order);
    f.add_done_callback(move |_| o2.lock().unwrap().push("second"));
    started.wait();
    gate.set();
    assert_eq!(f.result(), Ok(5), "the value survives a panicking callback");
    assert_eq!(*order.lock().unwrap(), ["raising", "second"]);
}

#[test]
fn done_callback_on_a_done_future_runs_at_once_in_the_caller() {
    let pool = pool(1);
    let mut f = pool.submit(|| 5).unwrap();
    f.wait(); // done, callbacks run, value still there
    let seen = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&seen);
    let me = thread::current().ident();
    f.add_done_callback(move |outcome| {
        *slot.lock().unwrap() = Some((*outcome.unwrap(), thread::current().ident()));
    });
    assert_eq!(*seen.lock().unwrap(), Some((5, me)));
    assert_eq!(f.result_timeout(LONG), Ok(5));
    // After the value was taken, a callback learns that.
    let taken = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&taken);
    f.add_done_callback(move |outcome| *slot.lock().unwrap() = Some(outcome.unwrap_err().clone()));
    assert_eq!(*taken.lock().unwrap(), Some(FutureError::Taken));
}

#[test]
fn wait_timeout_does_not_take_the_value() {
    let pool = pool(1);
    let gate = Event::new();
    let g = gate.clone();
    let f = pool.submit(move || {
        g.wait();
        9
    });
    let f = f.unwrap();
    assert!(!f.wait_timeout(SHORT));
    gate.set();
    assert!(f.wait_timeout(LONG));
    f.wait();
    assert_eq!(f.result(), Ok(9));
}

#[test]
fn callbacks_run_once_each_in_the_order_added() {
    let pool = pool(2);
    for _ in 0..50 {
        let order = Arc::new(Mutex::new(Vec::new()));
        let f = pool.submit(|| 1).unwrap();
        for i in 0..5 {
            let o = Arc::clone(&order);
            f.add_done_callback(move |_| o.lock().unwrap().push(i));
        }
        assert_eq!(f.result(), Ok(1));
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    }
}

// ------------------------------------------------------------------------------------
// Shutdown (ExecutorShutdownTest, ThreadPoolShutdownTest)

#[test]
fn submit_after_shutdown_hands_the_task_back() {
    let pool = pool(2);
    pool.shutdown(true, false);
    assert!(pool.is_shutdown());
    let err = pool.submit(|| 2u32.pow(5)).unwrap_err();
    assert!(matches!(err, SubmitError::ShutDown(_)));
    assert!(err.to_string().contains("shut down"), "{err}");
    assert_eq!(format!("{err:?}"), "ShutDown(..)");
    assert_eq!(err.into_inner()(), 32);
    assert!(matches!(
        pool.try_submit(|| 1),
        Err(SubmitError::ShutDown(_))
    ));
    let batch = pool.submit_batch(vec![|| 1, || 1]).unwrap_err();
    assert_eq!(batch.into_inner().len(), 2);
}

#[test]
fn shutdown_runs_what_was_queued() {
    // test_hang_issue12364: many queued tasks, then shutdown, then every result.
    let pool = pool(2);
    let futures: Vec<_> = (0..50).map(|i| pool.submit(move || i).unwrap()).collect();
    pool.shutdown(true, false);
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(i));
    }
}

#[test]
fn shutdown_without_wait_still_runs_the_queue() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    let queued: Vec<_> = (0..5).map(|i| pool.submit(move || i).unwrap()).collect();
    started.wait();
    assert_eq!(pool.shutdown(false, false), 0);
    gate.set();
    busy.result().unwrap();
    for (i, f) in queued.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(i));
    }
}

#[test]
fn shutdown_with_cancel_futures_cancels_the_queue() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    let drops = DropCounter::default();
    let queued: Vec<_> = (0..5)
        .map(|_| {
            let t = drops.track();
            pool.submit(move || drop(t)).unwrap()
        })
        .collect();
    started.wait();
    assert_eq!(pool.shutdown(false, true), 5);
    assert_eq!(drops.dropped(), 5, "cancelled closures are dropped at once");
    for f in &queued {
        assert!(f.cancelled());
    }
    gate.set();
    assert_eq!(busy.result(), Ok(()), "the running task is not affected");
    for f in queued {
        assert_eq!(f.result(), Err(FutureError::Cancelled));
    }
    pool.shutdown(true, false); // again: harmless
}

#[test]
fn drop_waits_for_the_queued_tasks() {
    // test_del_shutdown / test_context_manager_shutdown.
    let ran = Arc::new(AtomicUsize::new(0));
    {
        let pool = pool(2);
        for _ in 0..20 {
            let r = Arc::clone(&ran);
            drop(
                pool.submit(move || r.fetch_add(1, Ordering::SeqCst))
                    .unwrap(),
            );
        }
    }
    assert_eq!(ran.load(Ordering::SeqCst), 20);
    let leftover = thread::enumerate()
        .into_iter()
        .filter(|t| t.name().starts_with("dropwait"))
        .count();
    assert_eq!(leftover, 0);
}

#[test]
fn drop_joins_the_workers() {
    let pool = ThreadPool::builder()
        .workers(3)
        .name_prefix("joined")
        .build()
        .unwrap();
    assert_eq!(pool.submit(|| 1).unwrap().result(), Ok(1));
    drop(pool);
    let left = thread::enumerate()
        .into_iter()
        .filter(|t| t.name().starts_with("joined_"))
        .count();
    assert_eq!(left, 0, "every worker has finished when drop returns");
}

#[test]
fn shutdown_from_a_worker_does_not_wait_for_itself() {
    let pool = Arc::new(pool(2));
    let p = Arc::clone(&pool);
    let f = pool
        .submit(move || {
            p.shutdown(true, false);
            "survived"
        })
        .unwrap();
    assert_eq!(f.result(), Ok("survived"));
    assert!(pool.is_shutdown());
}

#[test]
fn the_last_handle_dropped_on_a_worker_does_not_hang() {
    let pool = Arc::new(pool(1));
    let p = Arc::clone(&pool);
    let (started, gate) = (Event::new(), Event::new());
    let (s, g) = (started.clone(), gate.clone());
    let f = pool
        .submit(move || {
            s.set();
            g.wait();
            drop(p); // the last handle: the pool is dropped on its own worker
            1
        })
        .unwrap();
    started.wait();
    drop(pool);
    gate.set();
    assert_eq!(f.result(), Ok(1));
}

// ------------------------------------------------------------------------------------
// Builder: names, worker counts, initializer (test_thread_names_*, InitializerMixin)

#[test]
fn thread_names_use_the_prefix() {
    let pool = ThreadPool::builder()
        .workers(5)
        .name_prefix("SpecialPool")
        .build()
        .unwrap();
    let names: HashSet<String> = pool
        .map(0..50, |_| thread::current().name().to_owned())
        .map(Result::unwrap)
        .collect();
    for name in &names {
        let index: usize = name
            .strip_prefix("SpecialPool_")
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("bad worker name {name}"));
        assert!(index < 5);
    }
    let workers: Vec<_> = thread::enumerate()
        .into_iter()
        .filter(|t| t.name().starts_with("SpecialPool_"))
        .collect();
    assert_eq!(workers.len(), 5);
    assert!(workers.iter().all(|t| t.is_daemon()));
}

#[test]
fn default_names_are_unique_per_pool() {
    let (a, b) = (pool(1), pool(1));
    assert!(a.name_prefix().starts_with("ThreadPool-"));
    assert_ne!(a.name_prefix(), b.name_prefix());
    let name = a
        .submit(|| thread::current().name().to_owned())
        .unwrap()
        .result()
        .unwrap();
    assert_eq!(name, format!("{}_0", a.name_prefix()));
}

#[test]
fn zero_workers_is_refused() {
    let err = ThreadPool::builder().workers(0).build().unwrap_err();
    assert!(matches!(err, BuildError::NoWorkers));
    assert!(err.to_string().contains("at least one worker"));
}

#[test]
fn the_default_is_one_worker_per_core() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(ThreadPool::new().workers(), cores);
}

thread_local! {
    static INIT: std::cell::Cell<&'static str> = const { std::cell::Cell::new("uninitialized") };
}

#[test]
fn the_initializer_runs_in_every_worker_first() {
    let pool = ThreadPool::builder()
        .workers(2)
        .initializer(|| INIT.with(|i| i.set("initialized")))
        .build()
        .unwrap();
    let status: Vec<_> = pool
        .map(0..20, |_| INIT.with(|i| i.get()))
        .map(Result::unwrap)
        .collect();
    assert!(status.iter().all(|s| *s == "initialized"));
}

#[test]
fn a_failing_initializer_breaks_the_pool() {
    let pool = ThreadPool::builder()
        .workers(2)
        .initializer(|| panic!("error in initializer"))
        .build()
        .unwrap();
    let early = pool.submit(|| 1);
    pool.shutdown(true, false); // the workers have exited: the pool is broken
    let why = pool.broken().expect("broken").to_owned();
    assert!(why.contains("error in initializer"), "{why}");
    if let Ok(f) = early {
        match f.result() {
            Err(FutureError::Broken { message }) => assert_eq!(message, why),
            other => panic!("a task of a broken pool ran: {other:?}"),
        }
    }
    match pool.submit(|| 2) {
        Err(SubmitError::Broken { message, task }) => {
            assert_eq!(message, why);
            assert_eq!(task(), 2);
        }
        other => panic!("submit to a broken pool: {other:?}"),
    }
}

// ------------------------------------------------------------------------------------
// Queue bound

#[test]
fn try_submit_fails_when_the_bound_is_reached() {
    let pool = ThreadPool::builder()
        .workers(1)
        .max_queued(2)
        .build()
        .unwrap();
    assert_eq!(pool.max_queued(), Some(2));
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    started.wait();
    let a = pool.try_submit(|| 'a').unwrap();
    let b = pool.try_submit(|| 'b').unwrap();
    assert_eq!(pool.queued(), 2);
    let err = pool.try_submit(|| 'c').unwrap_err();
    assert!(matches!(err, SubmitError::Full(_)));
    assert!(err.to_string().contains("full"));
    assert_eq!(err.into_inner()(), 'c');
    gate.set();
    busy.result().unwrap();
    assert_eq!((a.result(), b.result()), (Ok('a'), Ok('b')));
}

#[test]
fn submit_waits_while_the_queue_is_full() {
    let pool = ThreadPool::builder()
        .workers(1)
        .max_queued(1)
        .build()
        .unwrap();
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    started.wait();
    let queued = pool.submit(|| 1).unwrap();
    std::thread::scope(|s| {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let pool = &pool;
        let submitter = s.spawn(move || {
            tid_tx.send(os_tid()).unwrap();
            pool.submit(|| 2).unwrap().result()
        });
        wait_parked(tid_rx.recv().unwrap()); // blocked in submit: the queue is full
        gate.set();
        assert_eq!(submitter.join().unwrap(), Ok(2));
    });
    busy.result().unwrap();
    assert_eq!(queued.result(), Ok(1));
}

#[test]
fn max_queued_zero_hands_tasks_straight_to_a_worker() {
    let pool = ThreadPool::builder()
        .workers(2)
        .max_queued(0)
        .build()
        .unwrap();
    let futures: Vec<_> = (0..20)
        .map(|i| pool.submit(move || i * 2).unwrap())
        .collect();
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(i * 2));
    }
}

// ------------------------------------------------------------------------------------
// Batch

#[test]
fn submit_batch_keeps_order_and_each_future_is_its_own() {
    let pool = pool(2);
    let futures = pool
        .submit_batch((0..500u32).map(|i| {
            move || {
                if i == 77 {
                    panic!("item 77");
                }
                i
            }
        }))
        .unwrap();
    assert_eq!(futures.len(), 500);
    for (i, f) in futures.into_iter().enumerate() {
        if i == 77 {
            assert!(matches!(f.result(), Err(FutureError::Panicked { .. })));
        } else {
            assert_eq!(f.result(), Ok(i as u32));
        }
    }
    assert!(pool
        .submit_batch(Vec::<fn() -> u8>::new())
        .unwrap()
        .is_empty());
}

#[test]
fn batch_items_can_be_cancelled_one_by_one() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    started.wait();
    let futures = pool.submit_batch((0..10).map(|i| move || i)).unwrap();
    for f in futures.iter().step_by(2) {
        assert!(f.cancel());
    }
    gate.set();
    busy.result().unwrap();
    for (i, f) in futures.into_iter().enumerate() {
        let expected = if i % 2 == 0 {
            Err(FutureError::Cancelled)
        } else {
            Ok(i)
        };
        assert_eq!(f.result(), expected);
    }
}

#[test]
fn shutdown_cancels_a_queued_batch() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    started.wait();
    let futures = pool.submit_batch((0..10).map(|i| move || i)).unwrap();
    assert_eq!(pool.shutdown(false, true), 10);
    gate.set();
    busy.result().unwrap();
    for f in futures {
        assert_eq!(f.result(), Err(FutureError::Cancelled));
    }
}

// ------------------------------------------------------------------------------------
// map (test_map, test_map_exception, test_map_timeout, chunksize)

#[test]
fn map_keeps_input_order_for_any_chunksize() {
    let pool = pool(3);
    let expected: Vec<u64> = (0..40u64).map(|i| i.pow(2)).collect();
    for chunksize in [1, 3, 6, 40, 50] {
        let got: Vec<u64> = pool
            .map(0..40u64, |i| i.pow(2))
            .chunksize(chunksize)
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, expected, "chunksize {chunksize}");
    }
}

#[test]
fn map_reports_a_panic_at_its_item_and_goes_on() {
    let pool = pool(2);
    let mut it = pool.map([2, 3, 0, 5], |d: i32| 1 / d).chunksize(2);
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(it.next(), Some(Ok(0)));
    assert!(matches!(it.next(), Some(Err(FutureError::Panicked { .. }))));
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(it.next(), None);
}

#[test]
fn map_timeout_yields_what_finished_then_times_out() {
    let pool = pool(2);
    let gate = Event::new();
    let g = gate.clone();
    let results: Vec<_> = pool
        .map([false, false, true], move |block: bool| {
            if block {
                g.wait();
            }
        })
        .timeout(Duration::from_millis(100))
        .collect();
    gate.set();
    assert_eq!(results, [Ok(()), Ok(()), Err(FutureError::TimedOut)]);
}

#[test]
fn map_starts_work_at_the_call() {
    // Python's `Executor.map` submits at the call: the pool is busy before `next()`.
    let pool = pool(2);
    let ran = Event::new();
    let r = ran.clone();
    let it = pool.map(0..3, move |i| {
        r.set();
        i
    });
    assert!(
        ran.wait_timeout(LONG),
        "nothing ran before the first next()"
    );
    assert_eq!(it.map(Result::unwrap).collect::<Vec<_>>(), [0, 1, 2]);

    let ran = Event::new();
    let r = ran.clone();
    let it = pool.map_unordered(0..3, move |i| {
        r.set();
        i
    });
    assert!(
        ran.wait_timeout(LONG),
        "map_unordered: nothing ran before next()"
    );
    assert_eq!(it.map(Result::unwrap).sum::<i32>(), 3);
}

#[test]
fn map_then_shutdown_without_waiting_yields_the_submitted_results() {
    // The first window (four chunks per worker) is submitted at the call, so a
    // shutdown right after still runs it; items beyond it are refused.
    let pool = pool(1);
    let it = pool.map(0..6, |i| i * 10);
    pool.shutdown(false, false);
    let got: Vec<_> = it.collect();
    assert_eq!(
        got,
        [
            Ok(0),
            Ok(10),
            Ok(20),
            Ok(30),
            Err(FutureError::ShutDown),
            Err(FutureError::ShutDown)
        ]
    );
}

#[test]
fn map_is_bounded() {
    let pool = pool(2);
    let started = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&started);
    let mut it = pool
        .map(0..1000, move |i| {
            s.fetch_add(1, Ordering::SeqCst);
            i
        })
        .chunksize(5)
        .in_flight(20);
    for expected in 0..100 {
        assert_eq!(it.next(), Some(Ok(expected)));
        // At most `in_flight` items beyond those yielded (plus the chunk being read;
        // the first window, 8 items, is smaller).
        let ahead = started.load(Ordering::SeqCst) - (expected + 1);
        assert!(ahead <= 20 + 5, "{ahead} items ahead");
    }
    drop(it);
    pool.shutdown(true, false);
    assert!(
        started.load(Ordering::SeqCst) < 1000,
        "dropping the map stopped it"
    );
}

#[test]
fn map_over_an_endless_input() {
    let pool = pool(2);
    let firsts: Vec<u64> = pool
        .map(0u64.., |i| i * i)
        .take(10)
        .map(Result::unwrap)
        .collect();
    assert_eq!(firsts, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
}

#[test]
fn dropping_a_map_cancels_what_has_not_started() {
    let pool = pool(1);
    let gate = Event::new();
    let g = gate.clone();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let mut it = pool
        .map(0..10, move |i| {
            if i == 1 {
                g.wait(); // holds the only worker: items 2.. stay queued
            }
            r.fetch_add(1, Ordering::SeqCst)
        })
        .in_flight(10);
    assert_eq!(it.next(), Some(Ok(0))); // all ten submitted, the first done
    drop(it);
    gate.set();
    pool.shutdown(true, false);
    assert!(ran.load(Ordering::SeqCst) <= 2, "items 2.. were cancelled");
}

#[test]
fn map_after_shutdown_yields_errors() {
    let pool = pool(1);
    pool.shutdown(true, false);
    let got: Vec<_> = pool.map(0..3, |i| i).collect();
    assert_eq!(got, vec![Err(FutureError::ShutDown); 3]);
}

#[test]
#[should_panic(expected = "chunksize must be at least 1")]
fn map_chunksize_zero_panics() {
    let pool = pool(1);
    let _ = pool.map(0..3, |i| i).chunksize(0);
}

#[test]
fn map_unordered_yields_each_result_once_and_does_not_wait_for_slow_ones() {
    let pool = pool(2);
    let gate = Event::new();
    let g = gate.clone();
    let mut it = pool.map_unordered(0..20u32, move |i| {
        if i == 0 {
            g.wait(); // the first item is slow
        }
        i
    });
    let mut seen = HashSet::new();
    for _ in 0..19 {
        seen.insert(it.next().unwrap().unwrap());
    }
    assert!(!seen.contains(&0), "the slow item cannot have finished yet");
    gate.set();
    seen.insert(it.next().unwrap().unwrap());
    assert_eq!(it.next(), None);
    assert_eq!(seen, (0..20).collect());
}

#[test]
fn map_unordered_timeout() {
    let pool = pool(1);
    let gate = Event::new();
    let g = gate.clone();
    let results: Vec<_> = pool
        .map_unordered([true], move |_| g.wait())
        .timeout(SHORT)
        .collect();
    gate.set();
    assert_eq!(results, [Err(FutureError::TimedOut)]);
}

// ------------------------------------------------------------------------------------
// Misc

#[test]
fn is_worker_thread_and_debug() {
    let pool = Arc::new(pool(1));
    assert!(!pool.is_worker_thread());
    let p = Arc::clone(&pool);
    assert_eq!(
        pool.submit(move || p.is_worker_thread()).unwrap().result(),
        Ok(true)
    );
    let shown = format!("{pool:?}");
    assert!(
        shown.contains("ThreadPool") && shown.contains("workers: 1"),
        "{shown}"
    );
    assert!(format!("{:?}", ThreadPool::builder().workers(2)).contains("Some(2)"));
}

#[test]
fn futures_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Future<String>>();
    check::<ThreadPool>();
    check::<FutureError>();
}

#[test]
fn a_heddle_thread_can_wait_for_a_future() {
    let pool = Arc::new(pool(1));
    let (started, gate) = (Event::new(), Event::new());
    let f = pool.submit(blocker(&started, &gate)).unwrap();
    let waiter = Thread::new(move || f.result()).start();
    started.wait();
    gate.set();
    assert_eq!(waiter.join().unwrap(), Ok(()));
}

#[test]
fn result_waits_in_the_seam() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let f = pool.submit(blocker(&started, &gate)).unwrap();
    started.wait();
    std::thread::scope(|s| {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let waiter = s.spawn(move || {
            tid_tx.send(os_tid()).unwrap();
            f.result()
        });
        wait_parked(tid_rx.recv().unwrap()); // asleep in the seam, not spinning
        gate.set();
        assert_eq!(waiter.join().unwrap(), Ok(()));
    });
}

#[test]
fn errors_display_actionable_messages() {
    let cases = [
        (FutureError::Cancelled, "cancelled"),
        (FutureError::TimedOut, "wait again"),
        (FutureError::Taken, "already taken"),
        (FutureError::ShutDown, "shut down"),
        (
            FutureError::Broken {
                message: "init".into(),
            },
            "build a new pool",
        ),
    ];
    for (err, text) in cases {
        assert!(err.to_string().contains(text), "{err}");
    }
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        ThreadPool::builder().workers(0).build().unwrap()
    }));
    assert!(unwound.is_err());
}

// ------------------------------------------------------------------------------------
// Task cells: every closure and every value is dropped exactly once, whoever lets go
// of the task last (the worker, the future, a canceller, a shutdown)

#[test]
fn closures_and_values_are_dropped_exactly_once() {
    let pool = pool(2);
    let (closures, values) = (DropCounter::default(), DropCounter::default());
    let task = |i: usize| {
        let (c, v) = (closures.track(), values.clone());
        move || {
            let _c = c;
            (i, v.track())
        }
    };
    // Futures dropped before their tasks run: the worker frees the cell.
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    let busy2 = pool.submit(blocker(&started, &gate)).unwrap();
    for i in 0..50 {
        drop(pool.submit(task(i)).unwrap());
    }
    // Futures kept: the value is taken, or dropped with the future.
    let kept: Vec<_> = (50..100).map(|i| pool.submit(task(i)).unwrap()).collect();
    // A batch, some of it cancelled.
    let batch = pool.submit_batch((100..150).map(task)).unwrap();
    for f in batch.iter().step_by(5) {
        f.cancel();
    }
    gate.set();
    busy.result().unwrap();
    busy2.result().unwrap();
    for (n, f) in kept.into_iter().enumerate() {
        if n % 2 == 0 {
            let (i, value) = f.result().unwrap();
            assert_eq!(i, n + 50);
            drop(value);
        } else {
            f.wait();
            drop(f);
        }
    }
    let mut cancelled = 0;
    for f in batch {
        match f.result() {
            Ok(_) => {}
            Err(FutureError::Cancelled) => cancelled += 1,
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(cancelled, 10);
    pool.shutdown(true, false); // every worker has let go of every cell
    assert_eq!(closures.dropped(), 150, "every closure dropped once");
    assert_eq!(values.dropped(), 140, "every value made was dropped once");
}

#[test]
fn queued_counts_the_jobs_waiting_in_an_unbounded_pool() {
    let pool = pool(1);
    let (started, gate) = (Event::new(), Event::new());
    let busy = pool.submit(blocker(&started, &gate)).unwrap();
    started.wait();
    assert_eq!(pool.queued(), 0);
    let futures: Vec<_> = (0..5).map(|i| pool.submit(move || i).unwrap()).collect();
    assert_eq!(pool.queued(), 5);
    assert!(format!("{pool:?}").contains("queued: 5"));
    gate.set();
    busy.result().unwrap();
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(f.result(), Ok(i));
    }
    assert_eq!(pool.queued(), 0);
}

#[test]
fn a_broken_pool_fails_a_queued_batch() {
    let gate = Event::new();
    let g = gate.clone();
    let pool = ThreadPool::builder()
        .workers(1)
        .initializer(move || {
            g.wait();
            panic!("error in initializer")
        })
        .build()
        .unwrap();
    let futures = pool.submit_batch((0..5).map(|i| move || i)).unwrap();
    let single = pool.submit(|| 9).unwrap();
    gate.set();
    pool.shutdown(true, false);
    for f in futures {
        assert!(matches!(f.result(), Err(FutureError::Broken { .. })));
    }
    assert!(matches!(single.result(), Err(FutureError::Broken { .. })));
}

#[test]
fn a_refused_batch_hands_every_closure_back_in_order() {
    let pool = pool(2);
    pool.shutdown(true, false);
    match pool.submit_batch((0..4).map(|i| move || i * 10)) {
        Err(SubmitError::ShutDown(funcs)) => {
            let got: Vec<_> = funcs.into_iter().map(|f| f()).collect();
            assert_eq!(got, [0, 10, 20, 30]);
        }
        other => panic!("{other:?}"),
    }
}
