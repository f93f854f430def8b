//! heddle's primitives under the checker: each keeps its promise in every schedule DFS
//! can reach, and each property is shown to be checkable (a control that breaks the
//! property on purpose is caught), so a passing test means something.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::time::Duration;

use heddle::check::{AtomicUsize, Cell, Checker, Coverage, Report};
use heddle::sync::{Barrier, BoundedSemaphore, Event, Lock, RLock, Semaphore};
use heddle::thread::{self, JoinTimeoutError, Thread};

fn pass(checker: Checker, f: impl Fn() + Send + Sync + 'static) -> Coverage {
    checker
        .explore(f)
        .unwrap_or_else(|report| panic!("a correct use failed:\n{report}"))
}

fn pass_exhaustively(checker: Checker, f: impl Fn() + Send + Sync + 'static) -> Coverage {
    let coverage = pass(checker, f);
    assert!(coverage.is_exhaustive(), "not exhaustive: {coverage}");
    assert!(coverage.executions() > 1, "only one schedule: {coverage}");
    coverage
}

fn fail(checker: Checker, f: impl Fn() + Send + Sync + 'static) -> Report {
    match checker.explore(f) {
        Ok(coverage) => panic!("the control did not fail ({coverage})"),
        Err(report) => report,
    }
}

/// Start `n` threads named `{prefix}-{i}` running `body(i)`, and join them all.
fn run_threads<T: Send + 'static>(
    n: usize,
    prefix: &str,
    body: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let body = Arc::new(body);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let body = Arc::clone(&body);
            Thread::new(move || body(i))
                .name(format!("{prefix}-{i}"))
                .start()
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// A critical section that notices company: `inside` counts the threads in it (read
/// and written as separate steps, so a second thread in it is seen), and `total`
/// is a read-modify-write that loses updates unless the section is exclusive.
struct Section {
    inside: Cell<usize>,
    total: Cell<usize>,
}

impl Section {
    fn new() -> Arc<Self> {
        Arc::new(Section {
            inside: Cell::new(0),
            total: Cell::new(0),
        })
    }

    fn enter(&self) {
        let n = self.inside.get();
        assert_eq!(n, 0, "two threads in the critical section");
        self.inside.set(n + 1);
        let t = self.total.get();
        self.total.set(t + 1);
        self.inside.set(self.inside.get() - 1);
    }
}

// ---------------------------------------------------------------------------------------
// Lock

fn lock_test(use_lock: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let lock = Arc::new(Lock::new(()));
        let section = Section::new();
        let s = Arc::clone(&section);
        run_threads(2, "locker", move |_| {
            let guard = use_lock.then(|| lock.lock());
            s.enter();
            drop(guard);
        });
        assert_eq!(section.total.get(), 2);
    }
}

#[test]
fn lock_excludes() {
    pass_exhaustively(Checker::dfs(), lock_test(true));
}

#[test]
fn lock_control_without_the_lock_is_caught() {
    let report = fail(Checker::dfs(), lock_test(false));
    assert!(
        report
            .message()
            .contains("two threads in the critical section"),
        "{report}"
    );
}

#[test]
fn lock_try_lock_never_admits_two() {
    pass_exhaustively(Checker::dfs(), || {
        let lock = Arc::new(Lock::new(0));
        let section = Section::new();
        let (l, s) = (Arc::clone(&lock), Arc::clone(&section));
        let got = run_threads(2, "trier", move |_| match l.try_lock() {
            Some(mut g) => {
                s.enter();
                *g += 1;
                true
            }
            None => false,
        });
        let winners = got.iter().filter(|&&w| w).count();
        assert!(winners >= 1, "try_lock failed with nobody holding the lock");
        assert_eq!(*lock.lock(), winners);
    });
}

/// Each thread holds its own lock while the other takes its own: no order between
/// them, so this must never be reported as a (potential) deadlock.
#[test]
fn independent_locks_are_not_a_deadlock() {
    pass_exhaustively(Checker::dfs(), || {
        let locks = Arc::new([Lock::new(0), Lock::new(0)]);
        let l = Arc::clone(&locks);
        run_threads(2, "owner", move |i| {
            let mut g = l[i].lock();
            *g += 1;
        });
    });
}

// ---------------------------------------------------------------------------------------
// RLock

fn rlock_test(reenter: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let lock = Arc::new(RLock::new(()));
        let section = Section::new();
        let (l, s) = (Arc::clone(&lock), Arc::clone(&section));
        run_threads(2, "reentrant", move |_| {
            let outer = l.lock();
            assert_eq!(l.depth(), 1);
            {
                let _inner = l.lock(); // re-entry must not wait on ourselves
                assert_eq!(l.depth(), 2);
                s.enter();
            }
            assert_eq!(l.depth(), 1);
            if !reenter {
                // Control: release the outer hold early, then act as if still inside.
                drop(outer);
                s.enter();
            } else {
                s.enter();
                drop(outer);
            }
            assert!(!l.is_owned_by_current_thread());
        });
        assert_eq!(section.total.get(), 4);
        assert!(!lock.is_locked());
    }
}

#[test]
fn rlock_reenters_and_excludes() {
    pass_exhaustively(Checker::dfs(), rlock_test(true));
}

#[test]
fn rlock_control_released_too_early_is_caught() {
    let report = fail(Checker::dfs(), rlock_test(false));
    assert!(
        report
            .message()
            .contains("two threads in the critical section"),
        "{report}"
    );
}

// ---------------------------------------------------------------------------------------
// Semaphore

const PERMITS: usize = 2;

/// Three threads share `permits` permits; at most `PERMITS` may hold one at a time.
fn semaphore_test(permits: usize) -> impl Fn() + Send + Sync + 'static {
    move || {
        let sem = Arc::new(Semaphore::new(permits));
        let holders = Arc::new(AtomicUsize::new(0));
        let (s, h) = (Arc::clone(&sem), Arc::clone(&holders));
        run_threads(3, "holder", move |_| {
            let _permit = s.acquire();
            let now = h.fetch_add(1, SeqCst) + 1;
            assert!(now <= PERMITS, "{now} holders of {PERMITS} permits");
            h.fetch_sub(1, SeqCst);
        });
        assert_eq!(sem.available_permits(), permits);
        assert_eq!(holders.load(SeqCst), 0);
    }
}

#[test]
fn semaphore_never_more_than_n_holders() {
    pass_exhaustively(Checker::dfs(), semaphore_test(PERMITS));
    pass(Checker::pct(3).iterations(500), semaphore_test(PERMITS));
}

#[test]
fn semaphore_control_one_permit_too_many_is_caught() {
    let report = fail(Checker::dfs(), semaphore_test(PERMITS + 1));
    assert!(
        report.message().contains("3 holders of 2 permits"),
        "{report}"
    );
}

#[test]
fn bounded_semaphore_refuses_an_extra_release_in_every_schedule() {
    pass_exhaustively(Checker::dfs(), || {
        let sem = Arc::new(BoundedSemaphore::new(1));
        let s = Arc::clone(&sem);
        run_threads(2, "user", move |_| drop(s.acquire()));
        assert!(sem.release().is_err(), "released past the initial count");
    });
}

// ---------------------------------------------------------------------------------------
// Event

#[test]
fn event_set_publishes_what_came_before() {
    pass_exhaustively(Checker::dfs(), || {
        let event = Event::new();
        let data = Arc::new(Cell::new(0));
        let (e, d) = (event.clone(), Arc::clone(&data));
        let waiter = Thread::new(move || {
            assert!(e.wait());
            assert_eq!(d.get(), 42, "woke before the data was written");
        })
        .name("waiter")
        .start();
        data.set(42);
        event.set();
        waiter.join().unwrap();
    });
}

#[test]
fn event_wait_timeout_times_out_in_virtual_time() {
    // A day-long wait that nobody ends: under the checker it times out as soon as
    // nothing else can run, so this test takes microseconds, and always the same way.
    const DAY: Duration = Duration::from_secs(24 * 60 * 60);
    let coverage = pass(Checker::random().iterations(50), || {
        let event = Event::new();
        assert!(!event.wait_timeout(DAY), "an event nobody sets was set");
        assert!(!event.is_set());
    });
    assert_eq!(coverage.executions(), 50);
    // The trace shows the virtual clock jumping: fail on purpose after the timeout.
    let report = fail(Checker::random().iterations(1), || {
        let event = Event::new();
        let woke = event.wait_timeout(DAY);
        panic!("after the wait (set: {woke})");
    });
    assert!(
        report.message().contains("after the wait (set: false)"),
        "{report}"
    );
    assert!(
        report
            .to_string()
            .contains("virtual time advances to 86400s"),
        "the timeout did not fire in virtual time:\n{report}"
    );
}

#[test]
fn event_wait_timeout_is_set_while_the_setter_can_run() {
    // Virtual time only moves when nothing can run: a timed wait that a runnable thread
    // will end is never cut short by its timeout, in any schedule.
    pass_exhaustively(Checker::dfs(), || {
        let event = Event::new();
        let e = event.clone();
        let setter = Thread::new(move || e.set()).name("setter").start();
        assert!(
            event.wait_timeout(Duration::from_secs(5)),
            "timed out with a setter"
        );
        setter.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------
// Barrier

#[test]
fn barrier_indices_are_a_permutation_every_round() {
    const PARTIES: usize = 3;
    const ROUNDS: usize = 2;
    let body = || {
        let barrier = Arc::new(Barrier::new(PARTIES));
        let b = Arc::clone(&barrier);
        let per_thread = run_threads(PARTIES, "party", move |_| {
            (0..ROUNDS)
                .map(|_| {
                    let r = b.wait().expect("the barrier broke");
                    assert_eq!(r.is_leader(), r.index() == 0);
                    r.index()
                })
                .collect::<Vec<_>>()
        });
        for round in 0..ROUNDS {
            let mut indices: Vec<usize> = per_thread.iter().map(|t| t[round]).collect();
            indices.sort_unstable();
            assert_eq!(indices, [0, 1, 2], "round {round}: not a permutation");
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    };
    pass_exhaustively(Checker::dfs().preemption_bound(1), body);
    pass(Checker::pct(3).iterations(300), body);
    pass(Checker::random().iterations(300), body);
}

#[test]
fn barrier_wrong_party_count_is_a_deadlock() {
    let report = fail(Checker::random().iterations(10), || {
        let barrier = Arc::new(Barrier::new(3)); // but only two threads wait
        let b = Arc::clone(&barrier);
        run_threads(2, "party", move |_| b.wait().map(|r| r.index()));
    });
    let message = report.message();
    assert!(message.contains("deadlock"), "{report}");
    for waiter in [
        "'party-0' waits",
        "'party-1' waits",
        "'MainThread' waits in join",
    ] {
        assert!(message.contains(waiter), "{report}");
    }
}

// ---------------------------------------------------------------------------------------
// Thread

#[test]
fn thread_join_returns_values() {
    pass_exhaustively(Checker::dfs(), || {
        let squares = run_threads(3, "square", |i| {
            (i * i, thread::current().name().to_owned())
        });
        assert_eq!(
            squares,
            [
                (0, "square-0".to_owned()),
                (1, "square-1".to_owned()),
                (4, "square-2".to_owned())
            ]
        );
    });
}

#[test]
fn thread_join_control_wrong_value_is_caught() {
    let report = fail(Checker::dfs(), || {
        let total = Arc::new(Cell::new(0));
        let t = Arc::clone(&total);
        // Returns what it read, not what it wrote: depends on the schedule.
        let got = run_threads(2, "adder", move |_| {
            let v = t.get();
            t.set(v + 1);
            v
        });
        assert_eq!(
            got.iter().sum::<usize>(),
            1,
            "both threads read the same value"
        );
    });
    assert!(
        report
            .message()
            .contains("both threads read the same value"),
        "{report}"
    );
}

#[test]
fn thread_join_timeout_in_virtual_time() {
    pass_exhaustively(Checker::dfs(), || {
        let go = Event::new();
        let g = go.clone();
        let worker = Thread::new(move || {
            g.wait();
            7
        })
        .name("worker")
        .start();
        // Nobody sets `go` before this times out: a deterministic timeout.
        let worker = match worker.join_timeout(Duration::from_secs(3600)) {
            Err(JoinTimeoutError::TimedOut(handle)) => handle,
            other => panic!("the worker cannot have finished: {other:?}"),
        };
        assert!(worker.is_alive());
        go.set();
        assert_eq!(worker.join().unwrap(), 7);
    });
}
