//! Behaviour tests for `heddle::sync::Condition`, after CPython's
//! `lock_tests.ConditionTests` (notify, notify(n), notify_all, timeouts, `wait_for`),
//! plus a bounded-buffer producer/consumer stress test with exact counts.

mod common;

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::thread;
use std::time::Duration;

use common::{bunch, on_panic, Bunch, LONG, SHORT};
use heddle::sync::{Condition, Lock, RLock, RLockGuard};

/// What waiters and the notifier share, under one lock.
#[derive(Debug, Default)]
struct Gate {
    /// Waiters that went to sleep on `cond` (counted under the lock just before waiting).
    waiting: usize,
    /// Waiters that came back from `wait`.
    woken: usize,
    /// Arrival order of woken waiters (their `waiting` ticket).
    order: Vec<usize>,
}

/// `cond` is what waiters sleep on; `progress` is how they tell the main thread that
/// `waiting`/`woken` changed (a second Condition on the same Lock is fine).
struct Setup {
    lock: Lock<Gate>,
    cond: Condition,
    progress: Condition,
}

impl Setup {
    fn new() -> Self {
        Setup {
            lock: Lock::new(Gate::default()),
            cond: Condition::new(),
            progress: Condition::new(),
        }
    }

    /// One plain `wait` (no predicate loop: heddle promises no spurious wake-ups).
    fn waiter(&self) {
        let mut g = self.lock.lock();
        let ticket = g.waiting;
        g.waiting += 1;
        self.progress.notify_all();
        // Enqueued before the lock is released: once the main thread sees `waiting`
        // bumped under the lock, this thread is in `cond`'s queue.
        self.cond.wait(&mut g);
        g.woken += 1;
        g.order.push(ticket);
        self.progress.notify_all();
    }

    /// Wake waiters until all `n` are out: used only when a test fails, so that the
    /// failure is reported instead of the scope waiting forever for stranded waiters.
    fn release_all(&self, n: usize) {
        loop {
            self.cond.notify_all();
            if self.lock.lock().woken == n {
                break;
            }
            thread::yield_now();
        }
    }

    fn wait_for(&self, what: &str, mut done: impl FnMut(&Gate) -> bool) -> usize {
        let mut g = self.lock.lock();
        let r = self.progress.wait_while_timeout(&mut g, LONG, |s| !done(s));
        assert!(!r.timed_out(), "stuck waiting for {what}: {:?}", *g);
        g.woken
    }
}

/// Python's `_check_notify`: notify(1) wakes one, notify(3) three more, notify_all the
/// rest; exact counts from both the notifier's return values and the woken side.
fn check_notify(setup: &Setup) {
    const N: usize = 5;
    {
        let mut g = setup.lock.lock();
        *g = Gate::default();
    }
    thread::scope(|s| {
        let b = Bunch::start(s, N, |_| setup.waiter());
        let _rescue = on_panic(|| setup.release_all(N));
        setup.wait_for("all waiters asleep", |g| g.waiting == N);

        assert!(setup.cond.notify_one(), "one waiter was there to wake");
        assert_eq!(setup.wait_for("first wake-up", |g| g.woken >= 1), 1);
        // Exactly one left the queue: the other four are still there for notify(3)+1.
        assert_eq!(setup.cond.notify(3), 3);
        assert_eq!(setup.wait_for("three more", |g| g.woken >= 4), 4);
        assert_eq!(setup.cond.notify_all(), 1, "exactly one waiter was left");
        assert_eq!(setup.wait_for("the last one", |g| g.woken == N), N);
        assert_eq!(setup.cond.notify_all(), 0, "nobody waits any more");
        b.finish();
    });
    let g = setup.lock.lock();
    assert_eq!((g.waiting, g.woken), (N, N));
}

#[test]
fn notify_one_notify_n_and_notify_all_wake_exact_counts() {
    let setup = Setup::new();
    check_notify(&setup);
    // Again with the same condition: nothing is left over from the first round.
    check_notify(&setup);
}

#[test]
fn notify_one_wakes_the_longest_waiter_first() {
    const N: usize = 4;
    let setup = Setup::new();
    thread::scope(|s| {
        let b = Bunch::start(s, N, |_| setup.waiter());
        let _rescue = on_panic(|| setup.release_all(N));
        setup.wait_for("all waiters asleep", |g| g.waiting == N);
        for k in 1..=N {
            assert!(setup.cond.notify_one());
            let woken = setup.wait_for("one more wake-up", |g| g.woken >= k);
            assert_eq!(woken, k, "notify_one woke more than one waiter");
        }
        b.finish();
    });
    assert_eq!(setup.lock.lock().order, (0..N).collect::<Vec<_>>());
}

#[test]
fn notify_with_nobody_waiting_is_not_remembered() {
    let (lock, cond) = (Lock::new(()), Condition::new());
    assert!(!cond.notify_one());
    assert_eq!(cond.notify(5), 0);
    assert_eq!(cond.notify_all(), 0);
    let mut g = lock.lock();
    assert!(
        cond.wait_timeout(&mut g, SHORT).timed_out(),
        "an earlier notify must not wake a later wait"
    );
}

#[test]
fn notify_zero_wakes_nobody() {
    let setup = Setup::new();
    thread::scope(|s| {
        let b = Bunch::start(s, 2, |_| setup.waiter());
        let _rescue = on_panic(|| setup.release_all(2));
        setup.wait_for("both asleep", |g| g.waiting == 2);
        assert_eq!(setup.cond.notify(0), 0);
        assert_eq!(
            setup.cond.notify(10),
            2,
            "notify(n) wakes at most who is there"
        );
        setup.wait_for("both woken", |g| g.woken == 2);
        b.finish();
    });
}

#[test]
fn wait_timeout_times_out_with_lock_held_again() {
    // Python's test_timeout.
    let (lock, cond) = (Lock::new(0), Condition::new());
    let mut g = lock.lock();
    let r = cond.wait_timeout(&mut g, SHORT);
    assert!(r.timed_out());
    assert!(lock.is_locked());
    *g += 1; // the guard is valid: the lock is ours again
    assert_eq!(bunch(1, |_| lock.try_lock().is_none()), vec![true]);
    assert!(cond.wait_timeout(&mut g, Duration::ZERO).timed_out());
    assert!(lock.is_locked());
    drop(g);
    assert_eq!(*lock.lock(), 1);
}

#[test]
fn wait_timeout_released_the_lock_while_waiting() {
    // While the waiter sleeps (until its timeout), another thread can take the lock.
    let lock = Lock::new(0u32);
    let cond = Condition::new();
    let progress = Condition::new();
    thread::scope(|s| {
        s.spawn(|| {
            let mut g = lock.lock();
            *g = 1;
            progress.notify_all();
            let r = cond.wait_timeout(&mut g, LONG);
            assert!(!r.timed_out());
            assert_eq!(*g, 2);
        });
        let mut g = lock.lock();
        let r = progress.wait_while_timeout(&mut g, LONG, |v| *v == 0);
        assert!(!r.timed_out());
        // We hold the lock while the waiter is inside wait_timeout: it released it.
        *g = 2;
        assert!(cond.notify_one());
    });
}

#[test]
fn wait_timeout_notified_is_not_timed_out() {
    let setup = Setup::new();
    thread::scope(|s| {
        let h = s.spawn(|| {
            let mut g = setup.lock.lock();
            g.waiting += 1;
            setup.progress.notify_all();
            let r = setup.cond.wait_timeout(&mut g, LONG);
            g.woken += 1;
            r.timed_out()
        });
        setup.wait_for("waiter asleep", |g| g.waiting == 1);
        assert!(setup.cond.notify_one());
        assert!(!h.join().unwrap());
    });
}

#[test]
fn duration_max_waits_until_notified() {
    let setup = Setup::new();
    thread::scope(|s| {
        let h = s.spawn(|| {
            let mut g = setup.lock.lock();
            g.waiting += 1;
            setup.progress.notify_all();
            setup.cond.wait_timeout(&mut g, Duration::MAX).timed_out()
        });
        setup.wait_for("waiter asleep", |g| g.waiting == 1);
        assert!(setup.cond.notify_one());
        assert!(!h.join().unwrap());
    });
    let mut g = setup.lock.lock();
    let r = setup
        .cond
        .wait_while_timeout(&mut g, Duration::MAX, |g| g.waiting == 0);
    assert!(!r.timed_out());
}

#[test]
fn wait_while_sees_the_final_state() {
    // Python's test_waitfor: waiters wait for state == 4 while it goes 1, 2, 3, 4.
    const N: usize = 3;
    let lock = Lock::new((0u32, 0usize)); // (state, waiters inside wait_while)
    let cond = Condition::new();
    let entered = Condition::new();
    thread::scope(|s| {
        let _rescue = on_panic(|| {
            lock.lock().0 = 4;
            cond.notify_all();
        });
        let b = Bunch::start(s, N, |_| {
            let mut g = lock.lock();
            g.1 += 1;
            entered.notify_all();
            let mut checks = 0;
            cond.wait_while(&mut g, |(state, _)| {
                checks += 1;
                *state != 4
            });
            assert_eq!(g.0, 4);
            checks
        });
        {
            let mut g = lock.lock();
            let r = entered.wait_while_timeout(&mut g, LONG, |(_, inside)| *inside < N);
            assert!(!r.timed_out());
        }
        for step in 1..=4 {
            let mut g = lock.lock();
            g.0 = step;
            cond.notify_all();
        }
        let checks = b.finish();
        // The predicate ran first (false) and once more per wake-up; at least twice.
        assert!(checks.iter().all(|&c| c >= 2), "{checks:?}");
    });
}

#[test]
fn wait_while_returns_at_once_when_predicate_is_false() {
    let (lock, cond) = (Lock::new(3), Condition::new());
    let mut g = lock.lock();
    let mut calls = 0;
    cond.wait_while(&mut g, |n| {
        calls += 1;
        *n == 0
    });
    assert_eq!(calls, 1);
    let r = cond.wait_while_timeout(&mut g, Duration::ZERO, |n| *n == 0);
    assert!(!r.timed_out(), "predicate already false: no timeout");
}

#[test]
fn wait_while_timeout_times_out_while_predicate_holds() {
    // Python's test_waitfor_timeout.
    let (lock, cond) = (Lock::new(0), Condition::new());
    let mut g = lock.lock();
    let r = cond.wait_while_timeout(&mut g, SHORT, |n| *n != 4);
    assert!(r.timed_out());
    assert!(lock.is_locked());
    *g = 4;
    assert!(!cond
        .wait_while_timeout(&mut g, Duration::ZERO, |n| *n != 4)
        .timed_out());
}

#[test]
fn wait_while_timeout_with_notifications_that_do_not_satisfy() {
    // Notified, but the predicate stays true: the wait goes on until the deadline.
    let lock = Lock::new((0u32, false)); // (state, waiter inside)
    let cond = Condition::new();
    let entered = Condition::new();
    thread::scope(|s| {
        let h = s.spawn(|| {
            let mut g = lock.lock();
            g.1 = true;
            entered.notify_all();
            let r = cond.wait_while_timeout(&mut g, Duration::from_millis(50), |(st, _)| *st != 4);
            (r.timed_out(), g.0)
        });
        {
            let mut g = lock.lock();
            assert!(!entered
                .wait_while_timeout(&mut g, LONG, |(_, inside)| !*inside)
                .timed_out());
        }
        for step in 1..=3 {
            let mut g = lock.lock();
            g.0 = step;
            cond.notify_all();
        }
        // Whether the notifications arrived before or after the deadline, the
        // predicate never became false: the wait ends timed out.
        let (timed_out, state) = h.join().unwrap();
        assert!(timed_out);
        assert!(state < 4);
    });
}

#[test]
fn wait_while_timeout_reports_predicate_changed_without_notify() {
    // At the deadline the predicate is checked once more: if the state changed (even
    // without a notification), the result is "not timed out", as Python's wait_for
    // returns the predicate's last value.
    let lock = Lock::new((false, false)); // (flag, waiter inside)
    let cond = Condition::new();
    let entered = Condition::new();
    thread::scope(|s| {
        let h = s.spawn(|| {
            let mut g = lock.lock();
            g.1 = true;
            entered.notify_all();
            cond.wait_while_timeout(&mut g, SHORT, |(flag, _)| !*flag)
        });
        let mut g = lock.lock();
        assert!(!entered
            .wait_while_timeout(&mut g, LONG, |(_, inside)| !*inside)
            .timed_out());
        g.0 = true; // no notify
        drop(g);
        assert!(!h.join().unwrap().timed_out());
    });
}

#[test]
fn predicate_panic_propagates_and_lock_is_released() {
    let lock = Lock::new(0u32);
    let cond = Condition::new();
    let entered = Condition::new();
    thread::scope(|s| {
        let h = s.spawn(|| {
            panic::catch_unwind(AssertUnwindSafe(|| {
                let mut g = lock.lock();
                *g = 1;
                entered.notify_all();
                cond.wait_while(&mut g, |v| {
                    if *v == 2 {
                        panic!("predicate panics after a wake-up");
                    }
                    true
                });
            }))
            .is_err()
        });
        {
            let mut g = lock.lock();
            assert!(!entered
                .wait_while_timeout(&mut g, LONG, |v| *v == 0)
                .timed_out());
            *g = 2;
            assert!(cond.notify_one());
        }
        assert!(
            h.join().unwrap(),
            "the predicate's panic reached the waiter"
        );
    });
    assert!(
        !lock.is_locked(),
        "the guard released the lock while unwinding"
    );
    assert_eq!(*lock.lock(), 2);
}

#[test]
#[should_panic(expected = "was used with two different Locks")]
fn one_condition_with_two_locks_panics() {
    let cond = Condition::new();
    let a = Lock::new(());
    let b = Lock::new(());
    let mut ga = a.lock();
    assert!(cond.wait_timeout(&mut ga, Duration::ZERO).timed_out());
    let mut gb = b.lock();
    let _ = cond.wait_timeout(&mut gb, Duration::ZERO);
}

#[test]
fn two_locks_panic_names_both_sites_and_releases_the_lock() {
    let cond = Condition::new();
    let a = Lock::new(());
    let b = Lock::new(());
    {
        let mut ga = a.lock();
        cond.wait_timeout(&mut ga, Duration::ZERO);
    }
    let err = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut gb = b.lock();
        cond.wait_timeout(&mut gb, Duration::ZERO);
    }))
    .unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a message");
    assert_eq!(
        msg.matches("condition.rs:").count(),
        3,
        "the Condition's and both Locks' creation sites: {msg}"
    );
    assert!(msg.contains("one Condition per Lock"), "{msg}");
    assert!(!b.is_locked(), "the panic released the second lock");
    // The condition stays bound to the first lock and keeps working with it.
    let mut ga = a.lock();
    assert!(cond.wait_timeout(&mut ga, Duration::ZERO).timed_out());
}

#[test]
fn moving_lock_and_condition_together_is_not_misuse() {
    let pair = (Lock::new(0), Condition::new());
    {
        let mut g = pair.0.lock();
        assert!(pair.1.wait_timeout(&mut g, Duration::ZERO).timed_out());
    }
    // The same Lock, at a new address.
    let shared = std::sync::Arc::new(pair);
    let (lock, cond) = &*shared;
    let mut g = lock.lock();
    assert!(cond.wait_timeout(&mut g, Duration::ZERO).timed_out());
}

#[test]
fn default_and_debug() {
    let cond = Condition::default();
    let s = format!("{cond:?}");
    assert!(s.contains("Condition") && s.contains("created"), "{s}");
    assert!(s.contains("condition.rs"), "{s}");
}

#[test]
fn handshake_stress_no_lost_wakeups() {
    // Two threads take strict turns 5 000 times each through one Condition. A lost
    // wake-up shows up as a timed-out wait (a failure) instead of a hang.
    const TURNS: u64 = 5_000;
    let lock = Lock::new(0u64);
    let cond = Condition::new();
    bunch(2, |me| {
        let me = me as u64;
        for _ in 0..TURNS {
            let mut g = lock.lock();
            let r = cond.wait_while_timeout(&mut g, LONG, |turn| *turn % 2 != me);
            assert!(!r.timed_out(), "lost wake-up at turn {}", *g);
            *g += 1;
            // Alternate notifying with and without the lock held.
            if *g % 4 < 2 {
                cond.notify_one();
                drop(g);
            } else {
                drop(g);
                cond.notify_one();
            }
        }
    });
    assert_eq!(*lock.lock(), 2 * TURNS);
}

/// A bounded buffer as in every textbook: one lock, two conditions.
struct Buffer {
    state: Lock<BufState>,
    not_full: Condition,
    not_empty: Condition,
}

struct BufState {
    items: VecDeque<u64>,
    producers_done: usize,
    max_len: usize,
}

const CAPACITY: usize = 4;

#[test]
fn bounded_buffer_producer_consumer_exact_counts() {
    const PRODUCERS: u64 = 2;
    const CONSUMERS: usize = 2;
    const ITEMS: u64 = 50_000;
    const TAG: u64 = 1 << 32;
    let buf = Buffer {
        state: Lock::new(BufState {
            items: VecDeque::new(),
            producers_done: 0,
            max_len: 0,
        }),
        not_full: Condition::new(),
        not_empty: Condition::new(),
    };

    let per_consumer = thread::scope(|s| {
        let producers = Bunch::start(s, PRODUCERS as usize, |p| {
            for i in 1..=ITEMS {
                let mut g = buf.state.lock();
                let r = buf
                    .not_full
                    .wait_while_timeout(&mut g, LONG, |st| st.items.len() >= CAPACITY);
                assert!(!r.timed_out(), "producer {p} stuck: lost wake-up");
                g.items.push_back(p as u64 * TAG + i);
                g.max_len = g.max_len.max(g.items.len());
                // Notify while holding the lock.
                buf.not_empty.notify_one();
            }
            let mut g = buf.state.lock();
            g.producers_done += 1;
            buf.not_empty.notify_all();
        });
        let consumers = Bunch::start(s, CONSUMERS, |c| {
            let (mut count, mut sum) = (0u64, 0u64);
            let mut last_seen = [0u64; PRODUCERS as usize];
            loop {
                let mut g = buf.state.lock();
                let r = buf.not_empty.wait_while_timeout(&mut g, LONG, |st| {
                    st.items.is_empty() && st.producers_done < PRODUCERS as usize
                });
                assert!(!r.timed_out(), "consumer {c} stuck: lost wake-up");
                let Some(item) = g.items.pop_front() else {
                    break; // empty and every producer is done
                };
                drop(g);
                // Notify without the lock (allowed, and must not lose the wake-up).
                buf.not_full.notify_one();
                let (p, i) = ((item / TAG) as usize, item % TAG);
                assert!(i > last_seen[p], "FIFO broken for producer {p}");
                last_seen[p] = i;
                count += 1;
                sum += item;
            }
            (count, sum)
        });
        producers.finish();
        consumers.finish()
    });

    let count: u64 = per_consumer.iter().map(|&(c, _)| c).sum();
    let sum: u64 = per_consumer.iter().map(|&(_, s)| s).sum();
    let expected_sum: u64 = (0..PRODUCERS)
        .map(|p| p * TAG * ITEMS + ITEMS * (ITEMS + 1) / 2)
        .sum();
    assert_eq!(count, PRODUCERS * ITEMS);
    assert_eq!(sum, expected_sum);
    let st = buf.state.lock();
    assert!(st.items.is_empty());
    assert!(
        st.max_len <= CAPACITY && st.max_len > 0,
        "max_len {}",
        st.max_len
    );
}

// ---------------------------------------------------------------------------------
// Condition over an RLock: Python's `Condition(RLock())` (issue 13, point 7). CPython's
// `ConditionTests` run over both lock types; the RLock-specific part is that a wait
// releases *every* level (`_release_save`) and restores the same depth after
// (`_acquire_restore`).

use std::cell::Cell;

/// What the RLock tests share: the data is shared-access only (an `RLock`), so the
/// counters are `Cell`s.
#[derive(Debug, Default)]
struct RGate {
    waiting: Cell<usize>,
    woken: Cell<usize>,
}

/// A thread holding an `RLock` three levels deep sleeps in `wait_while`: another thread
/// can take the lock meanwhile (every level was released), and the waiter comes back
/// owning it three deep, its outer guards still valid.
#[test]
fn rlock_wait_releases_every_level_and_restores_the_depth() {
    let lock = RLock::new(Cell::new(false));
    let cond = Condition::new();
    thread::scope(|s| {
        let outer = lock.lock();
        let middle = lock.lock();
        let mut inner = lock.lock();
        assert_eq!(lock.depth(), 3);
        s.spawn(|| {
            // Only possible while the waiter sleeps: it held the lock three deep.
            let g = lock.lock();
            assert_eq!(lock.depth(), 1);
            g.set(true);
            cond.notify_one();
        });
        cond.wait_while(&mut inner, |g| !g.get());
        assert!(inner.get());
        assert!(lock.is_owned_by_current_thread());
        assert_eq!(lock.depth(), 3);
        drop(inner);
        assert_eq!(lock.depth(), 2);
        drop((middle, outer));
        assert!(!lock.is_locked());
    });
}

/// Levels taken with `acquire()` are restored too: `release()` can still give them back
/// after the wait.
#[test]
fn rlock_wait_restores_manual_levels() {
    let lock = RLock::new(());
    let cond = Condition::new();
    lock.acquire();
    lock.acquire();
    let mut g = lock.lock();
    assert!(cond.wait_timeout(&mut g, Duration::ZERO).timed_out());
    assert_eq!(lock.depth(), 3);
    assert_eq!(bunch(1, |_| lock.try_lock().is_none()), vec![true]);
    assert_eq!(lock.release(), Ok(()));
    assert_eq!(lock.release(), Ok(()));
    drop(g);
    assert!(!lock.is_locked());
}

/// CPython's `test_timeout` over an RLock: the wait times out and returns holding the
/// lock at its depth; while it waited, the lock was free for others.
#[test]
fn rlock_wait_timeout_times_out_and_released_meanwhile() {
    let lock = RLock::new(Cell::new(0u32));
    let cond = Condition::new();
    thread::scope(|s| {
        let _outer = lock.lock();
        let mut g = lock.lock();
        let other = s.spawn(|| {
            // Takes the lock during the wait (retrying until the waiter is asleep).
            loop {
                if let Some(g) = lock.try_lock() {
                    g.set(g.get() + 1);
                    return;
                }
                thread::yield_now();
            }
        });
        let mut timed_out = true;
        while lock_data(&g) == 0 {
            timed_out = cond.wait_timeout(&mut g, SHORT).timed_out();
        }
        assert!(timed_out, "nobody notified");
        assert_eq!(lock.depth(), 2);
        other.join().unwrap();
    });
    assert!(!lock.is_locked());
}

fn lock_data(g: &RLockGuard<'_, Cell<u32>>) -> u32 {
    g.get()
}

/// CPython's `test_notify` over an RLock: exact counts for notify(1), notify(n) and
/// notify_all, each waiter holding the lock two levels deep.
#[test]
fn rlock_notify_one_n_and_all_wake_exact_counts() {
    const N: usize = 5;
    let lock = RLock::new(RGate::default());
    let cond = Condition::new();
    let progress = Condition::new();
    let wait_for = |what: &str, done: &dyn Fn(&RGate) -> bool| {
        let mut g = lock.lock();
        let r = progress.wait_while_timeout(&mut g, LONG, |g| !done(g));
        assert!(!r.timed_out(), "{what}");
    };
    thread::scope(|s| {
        let _release = on_panic(|| {
            cond.notify_all();
        });
        let waiters = Bunch::start(s, N, |_| {
            let outer = lock.lock();
            let mut g = lock.lock();
            g.waiting.set(g.waiting.get() + 1);
            progress.notify_all();
            cond.wait(&mut g);
            assert_eq!(lock.depth(), 2, "the depth is restored");
            g.woken.set(g.woken.get() + 1);
            progress.notify_all();
            drop((g, outer));
        });
        wait_for("all waiting", &|g| g.waiting.get() == N);
        // Every waiter is asleep on `cond` (they count themselves under the lock before
        // waiting, and the wait enqueues before releasing it).
        assert_eq!(cond.notify_one() as usize, 1);
        wait_for("one woken", &|g| g.woken.get() == 1);
        assert_eq!(cond.notify(3), 3);
        wait_for("four woken", &|g| g.woken.get() == 4);
        assert_eq!(lock.lock().woken.get(), 4);
        assert_eq!(cond.notify_all(), 1);
        waiters.finish();
    });
    assert_eq!(lock.into_inner().woken.get(), N);
}

/// A producer/consumer handshake over `Condition(RLock())` with re-entry inside the
/// critical section: every item exactly once.
#[test]
fn rlock_handshake_exact_counts() {
    const ITEMS: u64 = 2_000;
    let lock = RLock::new(std::cell::RefCell::new(VecDeque::new()));
    let not_empty = Condition::new();
    let not_full = Condition::new();
    thread::scope(|s| {
        let consumer = s.spawn(|| {
            let mut sum = 0u64;
            for _ in 0..ITEMS {
                let mut g = lock.lock();
                not_empty.wait_while(&mut g, |g| g.borrow().is_empty());
                // Re-entry while holding it: the same thread may take it again.
                let again = lock.lock();
                sum += again.borrow_mut().pop_front().expect("an item");
                drop(again);
                not_full.notify_one();
            }
            sum
        });
        for i in 1..=ITEMS {
            let mut g = lock.lock();
            not_full.wait_while(&mut g, |g| g.borrow().len() >= 4);
            g.borrow_mut().push_back(i);
            not_empty.notify_one();
        }
        assert_eq!(consumer.join().unwrap(), ITEMS * (ITEMS + 1) / 2);
    });
}

/// Every schedule DFS reaches (preemption bound 2): a waiter two levels deep in an
/// `RLock` and a setter; no lost wake-up, no deadlock, and the waiter always comes back
/// at depth 2 with the flag set.
#[test]
fn rlock_condition_under_the_checker() {
    use heddle::check::Checker;
    use heddle::thread::Thread;
    use std::sync::Arc;
    let coverage = Checker::dfs()
        .explore(|| {
            let shared = Arc::new((RLock::new(Cell::new(false)), Condition::new()));
            let setter = {
                let shared = shared.clone();
                Thread::new(move || {
                    let (lock, cond) = &*shared;
                    let g = lock.lock();
                    g.set(true);
                    cond.notify_one();
                })
                .start()
            };
            let (lock, cond) = &*shared;
            let outer = lock.lock();
            let mut g = lock.lock();
            cond.wait_while(&mut g, |g| !g.get());
            assert!(g.get());
            assert_eq!(lock.depth(), 2);
            drop((g, outer));
            setter.join().unwrap();
        })
        .unwrap_or_else(|report| panic!("{report}"));
    assert!(coverage.is_exhaustive(), "{coverage}");
    assert!(coverage.executions() > 1, "{coverage}");
}
