//! `as_completed` and `wait`: the behaviours of CPython's `AsCompletedTests` and
//! `WaitTests` (already-done futures first, zero and non-zero timeouts, duplicates,
//! FIRST_COMPLETED / FIRST_EXCEPTION / ALL_COMPLETED with futures in every state), with
//! the futures handed back owned, borrowed or keyed.
//!
//! Python builds futures in chosen states by hand; here they come from pools: a
//! *finished* future (value), a *panicked* one, a *cancelled* one (queued behind a
//! blocker, then cancelled) and a *blocked* one (waits on a gate the test opens last).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use heddle::pool::{as_completed, wait, Done, Future, FutureError, ReturnWhen, ThreadPool};
use heddle::sync::Event;

use common::SHORT;

/// A pool with futures in each state; `open()` releases the blocked ones.
struct Fixture {
    pool: ThreadPool,
    gate: Event,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            pool: ThreadPool::builder().workers(2).build().unwrap(),
            gate: Event::new(),
        }
    }

    /// A future whose task has finished with `value` (and whose callbacks have run).
    fn finished(&self, value: i32) -> Future<i32> {
        let f = self.pool.submit(move || value).unwrap();
        settle(&f);
        f
    }

    /// A future whose task panicked.
    fn panicked(&self) -> Future<i32> {
        let f = self
            .pool
            .submit(|| -> i32 { panic!("this is an exception") })
            .unwrap();
        settle(&f);
        f
    }

    /// A future cancelled before it started.
    fn cancelled(&self) -> Future<i32> {
        let one = ThreadPool::builder().workers(1).build().unwrap();
        let (started, gate) = (Event::new(), Event::new());
        let (s, g) = (started.clone(), gate.clone());
        let busy = one.submit(move || {
            s.set();
            g.wait();
        });
        started.wait();
        let f = one.submit(|| 0).unwrap();
        assert!(f.cancel());
        gate.set();
        busy.unwrap().result().unwrap();
        f
    }

    /// A future whose task runs until `open()`.
    fn blocked(&self) -> Future<i32> {
        let (started, g) = (Event::new(), self.gate.clone());
        let s = started.clone();
        let f = self
            .pool
            .submit(move || {
                s.set();
                g.wait();
                -1
            })
            .unwrap();
        started.wait();
        f
    }

    fn open(&self) {
        self.gate.set();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.gate.set(); // never leave a worker blocked, even when a test fails
    }
}

/// Wait until `f` is done, without taking its value.
fn settle<T>(f: &Future<T>) {
    f.wait();
}

fn same(a: &Future<i32>, b: &Future<i32>) -> bool {
    a.same_future(b)
}

fn contains(list: &[&Future<i32>], f: &Future<i32>) -> bool {
    list.iter().any(|g| same(g, f))
}

// ------------------------------------------------------------------------------------
// as_completed

#[test]
fn as_completed_yields_every_future_whatever_its_outcome() {
    let fx = Fixture::new();
    let fs = vec![
        fx.cancelled(),
        fx.panicked(),
        fx.finished(42),
        fx.pool.submit(|| 2 * 21).unwrap(),
        fx.pool.submit(|| 7 * 6).unwrap(),
    ];
    let yielded: Vec<&Future<i32>> = as_completed(&fs, None).map(Result::unwrap).collect();
    assert_eq!(yielded.len(), 5);
    for f in &fs {
        assert!(contains(&yielded, f));
    }
}

#[test]
fn as_completed_zero_timeout_yields_the_done_ones_then_times_out() {
    let fx = Fixture::new();
    let fs = vec![fx.cancelled(), fx.panicked(), fx.finished(42), fx.blocked()];
    let mut it = as_completed(&fs, Some(Duration::ZERO));
    let mut yielded = Vec::new();
    let mut timed_out = false;
    for item in it.by_ref() {
        match item {
            Ok(f) => yielded.push(f),
            Err(e) => {
                // Python: "TimeoutError: 1 (of 4) futures unfinished".
                assert_eq!(
                    e,
                    FutureError::Unfinished {
                        unfinished: 1,
                        total: 4
                    }
                );
                assert!(e.to_string().contains("1 (of 4) futures unfinished"), "{e}");
                assert!(e.is_timeout());
                timed_out = true;
            }
        }
    }
    assert!(timed_out);
    assert_eq!(yielded.len(), 3);
    for f in &fs[..3] {
        assert!(contains(&yielded, f));
    }
    // The done ones came first, in the order given.
    assert!(same(yielded[0], &fs[0]) && same(yielded[1], &fs[1]) && same(yielded[2], &fs[2]));
    let rest = it.into_remaining();
    assert_eq!(rest.len(), 1);
    assert!(same(rest[0], &fs[3]));
    fx.open();
}

#[test]
fn as_completed_with_a_timeout_that_is_long_enough() {
    let fx = Fixture::new();
    let fs = vec![fx.finished(1), fx.pool.submit(|| 2).unwrap()];
    let got: Vec<i32> = as_completed(fs, Some(common::LONG))
        .map(|f| f.unwrap().result().unwrap())
        .collect();
    assert_eq!(got.iter().sum::<i32>(), 3);
}

#[test]
fn as_completed_yields_in_completion_order() {
    let fx = Fixture::new();
    let slow = fx.blocked();
    let fast = fx.pool.submit(|| 2).unwrap();
    let fs = [slow, fast];
    let mut it = as_completed(&fs, None);
    let first = it.next().unwrap().unwrap();
    assert!(same(first, &fs[1]), "the fast one completes first");
    fx.open();
    assert!(same(it.next().unwrap().unwrap(), &fs[0]));
    assert!(it.next().is_none());
}

#[test]
fn as_completed_yields_a_duplicate_once() {
    // Issue 20367 / 31641: duplicates and arbitrary iterables.
    let fx = Fixture::new();
    let f = fx.pool.submit(|| 1).unwrap();
    let yielded: Vec<_> = as_completed((0..3).map(|_| &f), None).collect();
    assert_eq!(yielded.len(), 1);
    assert!(same(yielded[0].as_ref().unwrap(), &f));
}

#[test]
fn as_completed_hands_owned_futures_and_keys_back() {
    let fx = Fixture::new();
    let jobs: Vec<(String, Future<usize>)> = ["a", "bb", "ccc"]
        .iter()
        .map(|w| {
            let w = w.to_string();
            let n = w.len();
            (w, fx.pool.submit(move || n).unwrap())
        })
        .collect();
    let mut got: Vec<(String, usize)> = as_completed(jobs, None)
        .map(|item| {
            let (word, f) = item.unwrap();
            (word, f.result().unwrap())
        })
        .collect();
    got.sort();
    assert_eq!(got, [("a".into(), 1), ("bb".into(), 2), ("ccc".into(), 3)]);
}

#[test]
fn as_completed_timeout_counts_from_the_call_and_reports_once() {
    let fx = Fixture::new();
    let fs = vec![fx.blocked(), fx.blocked()];
    let mut it = as_completed(fs, Some(SHORT));
    assert_eq!(it.remaining(), 2);
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(
        err,
        FutureError::Unfinished {
            unfinished: 2,
            total: 2
        }
    );
    assert!(
        err.to_string().contains("2 (of 2) futures unfinished"),
        "{err}"
    );
    assert!(it.next().is_none(), "the iterator ends after the timeout");
    let rest = it.into_remaining();
    assert_eq!(rest.len(), 2);
    fx.open();
    for f in rest {
        assert_eq!(f.result(), Ok(-1));
    }
}

#[test]
fn dropping_as_completed_early_leaves_the_futures_usable() {
    let fx = Fixture::new();
    let fs = vec![fx.blocked(), fx.finished(3)];
    {
        let mut it = as_completed(&fs, None);
        assert!(same(it.next().unwrap().unwrap(), &fs[1]));
    } // dropped with a watch still on the blocked future: removed
    fx.open();
    let mut fs = fs;
    assert_eq!(fs[0].result_timeout(common::LONG), Ok(-1));
    assert_eq!(fs[1].result_timeout(common::LONG), Ok(3));
}

#[test]
fn as_completed_of_nothing_ends_at_once() {
    let mut it = as_completed(Vec::<Future<()>>::new(), Some(Duration::ZERO));
    assert!(it.next().is_none());
    assert!(format!("{it:?}").contains("AsCompleted"));
}

// ------------------------------------------------------------------------------------
// wait (test_first_completed ... test_timeout, test_pending_calls_race)

fn split<'a>(done: &Done<&'a Future<i32>>) -> (Vec<&'a Future<i32>>, Vec<&'a Future<i32>>) {
    (done.done.clone(), done.not_done.clone())
}

#[test]
fn first_completed() {
    let fx = Fixture::new();
    let blocked = fx.blocked();
    let quick = fx.pool.submit(|| 21 * 2).unwrap();
    let fs = [quick, blocked];
    let (done, not_done) = split(&wait(&fs, None, ReturnWhen::FirstCompleted));
    assert_eq!(done.len(), 1);
    assert!(same(done[0], &fs[0]));
    assert!(same(not_done[0], &fs[1]));
    fx.open();
}

#[test]
fn first_completed_some_already_completed() {
    let fx = Fixture::new();
    let fs = [fx.cancelled(), fx.finished(42), fx.blocked()];
    let (done, not_done) = split(&wait(&fs, None, ReturnWhen::FirstCompleted));
    assert_eq!(done.len(), 2);
    assert!(contains(&done, &fs[0]) && contains(&done, &fs[1]));
    assert_eq!(not_done.len(), 1);
    assert!(same(not_done[0], &fs[2]));
    fx.open();
}

#[test]
fn first_exception() {
    let fx = Fixture::new();
    let ok = fx.finished(42);
    let (started, g) = (Event::new(), Event::new());
    let (s, gg) = (started.clone(), g.clone());
    let raising = fx
        .pool
        .submit(move || -> i32 {
            s.set();
            gg.wait();
            panic!("this is an exception")
        })
        .unwrap();
    started.wait();
    let blocked = fx.blocked(); // on the pool's other worker
    let fs = [ok, raising, blocked];
    g.set(); // let it panic
    let (done, not_done) = split(&wait(&fs, None, ReturnWhen::FirstException));
    assert_eq!(done.len(), 2);
    assert!(contains(&done, &fs[0]) && contains(&done, &fs[1]));
    assert!(same(not_done[0], &fs[2]));
    fx.open();
}

#[test]
fn first_exception_some_already_complete() {
    let fx = Fixture::new();
    let fs = [fx.finished(42), fx.cancelled(), fx.panicked(), fx.blocked()];
    let (done, not_done) = split(&wait(&fs, None, ReturnWhen::FirstException));
    assert_eq!(done.len(), 3);
    assert_eq!(not_done.len(), 1);
    assert!(same(not_done[0], &fs[3]));
    fx.open();
}

#[test]
fn first_exception_without_any_waits_for_all() {
    let fx = Fixture::new();
    let fs: Vec<_> = (0..10)
        .map(|i| fx.pool.submit(move || i).unwrap())
        .collect();
    let Done { done, not_done } = wait(fs, None, ReturnWhen::FirstException);
    assert_eq!((done.len(), not_done.len()), (10, 0));
}

#[test]
fn all_completed() {
    let fx = Fixture::new();
    let fs = vec![
        fx.finished(42),
        fx.cancelled(),
        fx.panicked(),
        fx.pool
            .submit(|| -> i32 { panic!("divmod by zero") })
            .unwrap(),
        fx.pool.submit(|| 2 * 21).unwrap(),
    ];
    let Done { done, not_done } = wait(fs, None, ReturnWhen::AllCompleted);
    assert_eq!(done.len(), 5);
    assert!(not_done.is_empty());
}

#[test]
fn wait_timeout_returns_what_is_not_done() {
    let fx = Fixture::new();
    let fs = [
        fx.cancelled(),
        fx.panicked(),
        fx.finished(42),
        fx.pool.submit(|| 6 * 7).unwrap(),
        fx.blocked(),
    ];
    let (done, not_done) = split(&wait(&fs, Some(SHORT), ReturnWhen::AllCompleted));
    assert_eq!(done.len(), 4);
    assert_eq!(not_done.len(), 1);
    assert!(same(not_done[0], &fs[4]));
    fx.open();
}

#[test]
fn wait_counts_a_duplicate_once() {
    let fx = Fixture::new();
    let f = fx.pool.submit(|| 1).unwrap();
    let Done { done, not_done } = wait([&f, &f, &f], None, ReturnWhen::AllCompleted);
    assert_eq!((done.len(), not_done.len()), (3, 0));
}

#[test]
fn pending_calls_race() {
    // Issue #14406: many futures completing at once while `wait` collects them.
    let fx = Fixture::new();
    let event = Event::new();
    let fs: Vec<_> = (0..100)
        .map(|i| {
            let e = event.clone();
            fx.pool
                .submit(move || {
                    e.wait();
                    i
                })
                .unwrap()
        })
        .collect();
    event.set();
    let Done { done, not_done } = wait(fs, None, ReturnWhen::AllCompleted);
    assert!(not_done.is_empty());
    let values: HashSet<i32> = done.into_iter().map(|f| f.result().unwrap()).collect();
    assert_eq!(values, (0..100).collect());
}

#[test]
fn the_default_return_when_is_all_completed() {
    assert_eq!(ReturnWhen::default(), ReturnWhen::AllCompleted);
}
