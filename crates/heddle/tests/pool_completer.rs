//! Futures made by hand (`Future::pending` and its `Completer`): CPython's
//! `test_concurrent_futures` behaviours for `Future()` with `set_result`,
//! `set_exception`, `set_running_or_notify_cancel` and `InvalidStateError`, plus what
//! heddle adds: a dropped completer resolves the future, never a hang. And a future's
//! `Debug`, which tells a result from a failure as Python's `repr` does.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use common::{os_tid, tokio_rt, wait_parked, LONG};
use heddle::pool::{
    as_completed, wait, CompleteError, Future, FutureError, ReturnWhen, ThreadPool,
};
use heddle::queue::Queue;

#[test]
fn set_result_wakes_a_waiting_thread() {
    let (future, completer) = Future::pending();
    assert!(!future.done());
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let waiter = s.spawn(move || {
            tx.send(os_tid()).unwrap();
            let mut future = future;
            future.result_timeout(LONG)
        });
        wait_parked(rx.recv().unwrap());
        completer.set_result(42).unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(42));
    });
}

#[test]
fn set_exception_is_the_result_and_a_first_exception() {
    let (future, completer) = Future::<u8>::pending();
    let (other, _keep) = Future::<u8>::pending();
    let failure = FutureError::Panicked {
        message: "disk full".into(),
    };
    completer.set_exception(failure.clone()).unwrap();
    let fs = [future, other];
    let done = wait(&fs, Some(LONG), ReturnWhen::FirstException);
    assert_eq!(
        done.done.len(),
        1,
        "the failed future ends a FIRST_EXCEPTION wait"
    );
    assert_eq!(done.not_done.len(), 1);
    let [future, _other] = fs;
    assert_eq!(future.result(), Err(failure));
}

#[test]
fn completing_twice_is_a_typed_error() {
    // Python: `set_result` on a finished future raises `InvalidStateError`.
    let (future, completer) = Future::pending();
    completer.set_result("first").unwrap();
    assert_eq!(
        completer.set_result("second"),
        Err(CompleteError::AlreadyCompleted("second"))
    );
    let err = completer.set_exception(FutureError::Cancelled).unwrap_err();
    assert!(matches!(err, CompleteError::AlreadyCompleted(_)));
    assert!(err.to_string().contains("already completed"), "{err}");
    assert_eq!(future.result(), Ok("first"));
}

#[test]
fn racing_completers_exactly_one_wins() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 200;
    for _ in 0..ROUNDS {
        let (future, completer) = Future::pending();
        let completer = Arc::new(completer);
        let wins = AtomicUsize::new(0);
        thread::scope(|s| {
            for i in 0..THREADS {
                let (completer, wins) = (Arc::clone(&completer), &wins);
                s.spawn(move || match completer.set_result(i) {
                    Ok(()) => {
                        wins.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => assert_eq!(e.into_inner(), i),
                });
            }
        });
        assert_eq!(wins.into_inner(), 1);
        assert!(future.result().unwrap() < THREADS);
    }
}

#[test]
fn cancel_before_running_refuses_the_result() {
    let (future, completer) = Future::pending();
    assert!(future.cancel());
    assert!(completer.cancelled());
    assert!(!completer.set_running_or_notify_cancel());
    assert_eq!(completer.set_result(1), Err(CompleteError::Cancelled(1)));
    assert_eq!(future.result(), Err(FutureError::Cancelled));
}

#[test]
fn running_futures_cannot_be_cancelled() {
    let (future, completer) = Future::pending();
    assert!(completer.set_running_or_notify_cancel());
    assert!(completer.set_running_or_notify_cancel(), "still running");
    assert!(future.running());
    assert!(!future.cancel());
    completer.set_result(()).unwrap();
    assert!(!completer.set_running_or_notify_cancel(), "finished");
    assert_eq!(future.result(), Ok(()));
}

#[test]
fn a_dropped_completer_resolves_the_future_instead_of_hanging() {
    let (future, completer) = Future::<String>::pending();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::scope(|s| {
        let waiter = s.spawn(move || {
            tx.send(os_tid()).unwrap();
            let mut future = future;
            future.result_timeout(LONG)
        });
        wait_parked(rx.recv().unwrap());
        // A producer that panics drops its completer while unwinding.
        let producer = thread::spawn(move || {
            let _completer = completer;
            panic!("producer died");
        });
        assert!(producer.join().is_err());
        let got = waiter.join().unwrap();
        assert_eq!(got, Err(FutureError::Abandoned));
        assert!(got
            .unwrap_err()
            .to_string()
            .contains("completer was dropped"));
    });
}

#[test]
fn a_completer_dropped_after_running_still_resolves() {
    let (future, completer) = Future::<u8>::pending();
    assert!(completer.set_running_or_notify_cancel());
    drop(completer);
    assert_eq!(future.result(), Err(FutureError::Abandoned));
}

#[test]
fn hand_made_futures_work_with_as_completed_wait_callbacks_and_await() {
    let pool = ThreadPool::builder().workers(2).build().unwrap();
    let (manual, completer) = Future::pending();
    let pooled = pool.submit(|| 1).unwrap();
    let seen = Queue::unbounded();
    let s = seen.clone();
    manual.add_done_callback(move |v| s.put(*v.unwrap()).unwrap());
    let bridge = thread::spawn(move || completer.set_result(2).unwrap());
    let mut total = 0;
    for f in as_completed([manual, pooled], Some(LONG)) {
        total += f.unwrap().result().unwrap();
    }
    assert_eq!(total, 3);
    bridge.join().unwrap();
    assert_eq!(seen.try_get(), Ok(2), "the callback ran");

    let (manual, completer) = Future::pending();
    let done = wait(
        [&manual],
        Some(std::time::Duration::ZERO),
        ReturnWhen::AllCompleted,
    );
    assert_eq!(done.not_done.len(), 1);
    completer.set_result("x").unwrap();
    assert_eq!(
        wait([&manual], Some(LONG), ReturnWhen::AllCompleted)
            .done
            .len(),
        1
    );

    let (manual, completer) = Future::pending();
    let rt = tokio_rt(1);
    let task = rt.spawn(manual);
    thread::spawn(move || completer.set_result(7u64).unwrap());
    assert_eq!(rt.block_on(task).unwrap(), Ok(7));
}

#[test]
fn debug_tells_a_result_from_a_failure() {
    let (ok, c) = Future::<u32>::pending();
    assert_eq!(format!("{ok:?}"), r#"Future { state: "pending" }"#);
    c.set_result(1).unwrap();
    assert_eq!(
        format!("{ok:?}"),
        r#"Future { state: "finished", returned: "u32" }"#
    );
    let (bad, c) = Future::<u32>::pending();
    c.set_exception(FutureError::Panicked {
        message: "boom".into(),
    })
    .unwrap();
    let text = format!("{bad:?}");
    assert!(text.contains("error: Panicked"), "{text}");
    assert!(text.contains("boom"), "{text}");
    assert!(!text.contains("returned"), "{text}");
}
