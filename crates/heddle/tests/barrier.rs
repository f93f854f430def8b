//! Behaviour tests for `heddle::sync::Barrier`, after CPython's `lock_tests.BarrierTests`
//! (rounds, return values, action, abort, reset, timeouts, single thread), plus a
//! many-rounds stress test that generations never mix.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use common::{bunch, on_panic, os_tid, wait_all_parked, Bunch, LONG, SHORT};
use heddle::sync::{Barrier, BarrierError};

/// Half the waiters wait untimed, half with a [`LONG`] timeout: both paths are covered,
/// and if a bug leaves them asleep, the timed ones break the barrier after a while and
/// release the others, so the test fails instead of hanging.
fn wait_either_way(b: &Barrier, i: usize) -> Result<usize, BarrierError> {
    let r = if i % 2 == 0 {
        b.wait()
    } else {
        b.wait_timeout(LONG)
    };
    r.map(|r| r.index())
}

/// Poll (yielding) until `n_waiting` reaches `n`: the waiters are counted under the
/// barrier's own lock, so this is an exact observation, not a guess.
fn wait_for_n_waiting(b: &Barrier, n: usize) {
    let give_up = Instant::now() + LONG;
    while b.n_waiting() != n {
        assert!(
            Instant::now() < give_up,
            "n_waiting stuck at {} (expected {n})",
            b.n_waiting()
        );
        thread::yield_now();
    }
}

#[test]
fn parties_and_n_waiting() {
    let b = Barrier::new(3);
    assert_eq!(b.parties(), 3);
    assert_eq!(b.n_waiting(), 0);
    assert!(!b.is_broken());
    thread::scope(|s| {
        let first = Bunch::start(s, 2, |_| b.wait());
        wait_for_n_waiting(&b, 2);
        assert_eq!(b.n_waiting(), 2);
        let me = b.wait().expect("the third party completes the round");
        let mut indices: Vec<usize> = first
            .finish()
            .into_iter()
            .map(|r| r.expect("round completed").index())
            .collect();
        indices.push(me.index());
        indices.sort_unstable();
        assert_eq!(indices, vec![0, 1, 2]);
    });
    assert_eq!(b.n_waiting(), 0);
    let d = format!("{b:?}");
    assert!(d.contains("Barrier") && d.contains("parties: 3"), "{d}");
}

#[test]
#[should_panic(expected = "a barrier needs at least one party")]
fn zero_parties_panics() {
    let _ = Barrier::new(0);
}

#[test]
fn single_party_never_blocks() {
    // Python's test_single_thread.
    let b = Barrier::new(1);
    for _ in 0..5 {
        let r = b.wait().unwrap();
        assert_eq!(r.index(), 0);
        assert!(r.is_leader());
    }
    assert!(b.wait_timeout(Duration::ZERO).unwrap().is_leader());
}

#[test]
fn indices_are_a_permutation_and_one_leader_per_round() {
    // Python's test_wait_return, over many rounds.
    const N: usize = 5;
    const ROUNDS: usize = 50;
    let b = Barrier::new(N);
    let per_thread = bunch(N, |_| {
        (0..ROUNDS)
            .map(|_| b.wait().expect("no one breaks this barrier"))
            .collect::<Vec<_>>()
    });
    for round in 0..ROUNDS {
        let mut indices: Vec<usize> = per_thread.iter().map(|t| t[round].index()).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..N).collect::<Vec<_>>(), "round {round}");
        let leaders = per_thread.iter().filter(|t| t[round].is_leader()).count();
        assert_eq!(leaders, 1, "round {round}");
        assert!(per_thread
            .iter()
            .all(|t| t[round].is_leader() == (t[round].index() == 0)));
    }
}

#[test]
fn action_runs_once_per_round_in_the_last_arriving_thread() {
    // Python's test_action.
    const N: usize = 4;
    const ROUNDS: usize = 30;
    let runs = Arc::new(AtomicUsize::new(0));
    let ran_in: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
    let b = {
        let (runs, ran_in) = (Arc::clone(&runs), Arc::clone(&ran_in));
        Barrier::new(N).with_action(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            ran_in.lock().unwrap().push(thread::current().id());
        })
    };
    bunch(N, |_| {
        for round in 0..ROUNDS {
            let r = b.wait().unwrap();
            // The action ran before anyone was released, and only once for this round
            // (nobody can complete the next round without this thread).
            assert_eq!(runs.load(Ordering::SeqCst), round + 1);
            if r.index() == N - 1 {
                let ran_in = ran_in.lock().unwrap();
                assert_eq!(
                    ran_in[round],
                    thread::current().id(),
                    "the action runs in the last thread to arrive"
                );
            }
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), ROUNDS);
}

#[test]
fn wait_timeout_breaks_the_barrier_for_everyone() {
    // Python's test_timeout: the timed-out waiter gets TimedOut, the others Broken.
    let b = Barrier::new(4);
    thread::scope(|s| {
        let others = Bunch::start(s, 2, |i| wait_either_way(&b, i));
        wait_for_n_waiting(&b, 2);
        assert_eq!(b.wait_timeout(SHORT), Err(BarrierError::TimedOut));
        for r in others.finish() {
            assert_eq!(r, Err(BarrierError::Broken));
        }
    });
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    // Broken until reset: new waits fail at once.
    assert_eq!(b.wait(), Err(BarrierError::Broken));
    assert_eq!(b.wait_timeout(LONG), Err(BarrierError::Broken));
    b.reset();
    assert!(!b.is_broken());
    let r = bunch(4, |i| wait_either_way(&b, i));
    let mut idx: Vec<usize> = r.into_iter().map(Result::unwrap).collect();
    idx.sort_unstable();
    assert_eq!(idx, vec![0, 1, 2, 3]);
}

#[test]
fn default_timeout_applies_to_wait() {
    // Python's test_default_timeout.
    let b = Barrier::new(2).with_timeout(SHORT);
    assert_eq!(b.wait(), Err(BarrierError::TimedOut));
    assert!(b.is_broken());
    b.reset();
    // A round that completes is not affected by the default timeout.
    let b = Barrier::new(2).with_timeout(LONG);
    let r = bunch(2, |_| b.wait().is_ok());
    assert_eq!(r, vec![true, true]);
}

#[test]
fn unrepresentable_timeouts_mean_wait_forever() {
    let b = Barrier::new(2).with_timeout(Duration::MAX);
    assert_eq!(bunch(2, |_| b.wait().is_ok()), vec![true, true]);
    assert_eq!(
        bunch(2, |_| b.wait_timeout(Duration::MAX).is_ok()),
        vec![true, true]
    );
}

#[test]
fn timed_wait_that_completes_is_ok() {
    let b = Barrier::new(2);
    thread::scope(|s| {
        let other = s.spawn(|| b.wait_timeout(LONG));
        wait_for_n_waiting(&b, 1);
        let me = b.wait_timeout(LONG).unwrap();
        let them = other.join().unwrap().unwrap();
        assert_eq!((them.index(), me.index()), (0, 1));
        assert!(them.is_leader() && !me.is_leader());
    });
    assert!(!b.is_broken());
}

#[test]
fn abort_wakes_waiters_with_broken() {
    // Python's test_abort.
    const N: usize = 4;
    let b = Barrier::new(N);
    thread::scope(|s| {
        let waiters = Bunch::start(s, N - 1, |i| wait_either_way(&b, i));
        wait_for_n_waiting(&b, N - 1);
        b.abort();
        for r in waiters.finish() {
            assert_eq!(r, Err(BarrierError::Broken));
        }
    });
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!(b.wait(), Err(BarrierError::Broken));
    b.abort(); // aborting a broken barrier is harmless
    assert!(b.is_broken());
}

#[test]
fn reset_wakes_waiters_with_broken_and_barrier_is_reusable() {
    // Python's test_reset.
    const N: usize = 3;
    let b = Barrier::new(N);
    thread::scope(|s| {
        let waiters = Bunch::start(s, N - 1, |i| wait_either_way(&b, i));
        wait_for_n_waiting(&b, N - 1);
        b.reset();
        for r in waiters.finish() {
            assert_eq!(r, Err(BarrierError::Broken));
        }
    });
    assert!(!b.is_broken(), "reset leaves the barrier usable");
    assert_eq!(b.n_waiting(), 0);
    for _ in 0..3 {
        let mut idx: Vec<usize> = bunch(N, |i| wait_either_way(&b, i).unwrap());
        idx.sort_unstable();
        assert_eq!(idx, vec![0, 1, 2]);
    }
}

#[test]
fn abort_then_reset_then_full_rounds() {
    // Python's test_abort_and_reset, simplified: a broken round, a reset, then rounds
    // that complete, all with the same threads.
    const N: usize = 3;
    let b = Barrier::new(N);
    let reset_done = Barrier::new(N);
    let results = bunch(N, |i| {
        // Round 1: thread 0 aborts instead of arriving.
        let first = if i == 0 {
            wait_for_n_waiting(&b, N - 1);
            b.abort();
            Err(BarrierError::Broken)
        } else {
            wait_either_way(&b, i)
        };
        // Everyone has seen the break; thread 0 resets, and the rest wait for it.
        if reset_done.wait().unwrap().is_leader() {
            b.reset();
        }
        reset_done.wait().unwrap();
        let second = wait_either_way(&b, i);
        let third = wait_either_way(&b, i + 1);
        (first, second, third)
    });
    for (first, second, third) in &results {
        assert_eq!(*first, Err(BarrierError::Broken));
        assert!(second.is_ok() && third.is_ok(), "{results:?}");
    }
    assert!(!b.is_broken());
}

#[test]
fn reset_with_nobody_waiting_repairs_a_broken_barrier() {
    let b = Barrier::new(2);
    b.abort();
    assert!(b.is_broken());
    b.reset();
    assert!(!b.is_broken());
    b.reset(); // resetting a healthy, empty barrier is harmless
    assert_eq!(bunch(2, |_| b.wait().is_ok()), vec![true, true]);
}

#[test]
fn action_panic_breaks_the_barrier_and_propagates() {
    const N: usize = 3;
    let fail = Arc::new(AtomicBool::new(true));
    let b = {
        let fail = Arc::clone(&fail);
        Barrier::new(N).with_action(move || {
            if fail.load(Ordering::SeqCst) {
                panic!("barrier action failed");
            }
        })
    };
    let outcomes = bunch(N, |_| {
        match panic::catch_unwind(AssertUnwindSafe(|| b.wait())) {
            Ok(r) => Ok(r.map(|r| r.index())),
            Err(payload) => Err(payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default()),
        }
    });
    let panicked: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(
        panicked.len(),
        1,
        "the action's panic continues in one thread"
    );
    assert!(
        panicked[0].contains("barrier action failed"),
        "{panicked:?}"
    );
    let broken = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Err(BarrierError::Broken))))
        .count();
    assert_eq!(broken, N - 1, "{outcomes:?}");
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);

    // After a reset (and with a well-behaved action) the barrier works again.
    b.reset();
    fail.store(false, Ordering::SeqCst);
    let ok = bunch(N, |_| b.wait().is_ok());
    assert_eq!(ok, vec![true; N]);
}

#[test]
fn action_may_use_the_barrier_itself() {
    // In Python the action runs under the barrier's RLock-based Condition, so an action
    // may call `barrier.n_waiting`, `broken` or `abort()`. Run it in a detached thread so
    // a self-deadlock fails the test (after LONG) instead of hanging the suite.
    let cell: Arc<OnceLock<Arc<Barrier>>> = Arc::default();
    let seen_waiting = Arc::new(AtomicUsize::new(usize::MAX));
    let b = {
        let (cell, seen_waiting) = (Arc::clone(&cell), Arc::clone(&seen_waiting));
        Arc::new(Barrier::new(1).with_action(move || {
            let b = cell.get().expect("set before the first wait");
            seen_waiting.store(b.n_waiting(), Ordering::SeqCst);
            assert!(!b.is_broken());
        }))
    };
    cell.set(Arc::clone(&b)).ok().unwrap();
    let (tx, rx) = mpsc::channel();
    let b2 = Arc::clone(&b);
    thread::spawn(move || {
        let _ = tx.send(b2.wait().map(|r| r.index()));
    });
    let r = rx
        .recv_timeout(LONG)
        .expect("the action deadlocked calling the barrier it runs in");
    assert_eq!(r, Ok(0));
    assert_eq!(seen_waiting.load(Ordering::SeqCst), 0);
}

#[test]
fn action_aborting_its_own_barrier_panics_with_a_message() {
    // Re-entering the barrier's lock from the action (abort, reset, wait) would
    // self-deadlock; it panics instead, which breaks the barrier like any action panic.
    let cell: Arc<OnceLock<Arc<Barrier>>> = Arc::default();
    let b = {
        let cell = Arc::clone(&cell);
        Arc::new(Barrier::new(2).with_action(move || {
            cell.get().expect("set before the first wait").abort();
        }))
    };
    cell.set(Arc::clone(&b)).ok().unwrap();
    let (tx, rx) = mpsc::channel();
    for _ in 0..2 {
        let (b, tx) = (Arc::clone(&b), tx.clone());
        // Detached: a regression to a self-deadlock fails (after LONG) instead of hanging.
        thread::spawn(move || {
            let r = panic::catch_unwind(AssertUnwindSafe(|| b.wait()));
            let _ = tx.send(r.map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            }));
        });
    }
    let outcomes: Vec<_> = (0..2)
        .map(|_| rx.recv_timeout(LONG).expect("the action deadlocked"))
        .collect();
    let msgs: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert_eq!(msgs.len(), 1, "{outcomes:?}");
    assert!(msgs[0].contains("own action"), "{}", msgs[0]);
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Ok(Err(BarrierError::Broken)))),
        "{outcomes:?}"
    );
    assert!(b.is_broken());
}

#[test]
fn broken_error_display_says_what_to_do() {
    let broken = BarrierError::Broken.to_string();
    assert!(
        broken.contains("broken") && broken.contains("reset()"),
        "{broken}"
    );
    let timed_out = BarrierError::TimedOut.to_string();
    assert!(timed_out.contains("timed out"), "{timed_out}");
    assert!(timed_out.contains("broken for every party"), "{timed_out}");
    let e: &dyn std::error::Error = &BarrierError::Broken;
    assert_eq!(e.to_string(), broken);
}

#[test]
fn waiters_are_really_parked_until_the_last_party() {
    // n_waiting counts them; /proc (where available) shows them asleep; none returns
    // until the last party arrives.
    const N: usize = 4;
    let b = Barrier::new(N);
    let returned = AtomicUsize::new(0);
    let (tid_tx, tid_rx) = mpsc::channel();
    thread::scope(|s| {
        let _rescue = on_panic(|| b.abort());
        let waiters = Bunch::start(s, N - 1, |_| {
            tid_tx.send(os_tid()).unwrap();
            let r = b.wait();
            returned.fetch_add(1, Ordering::SeqCst);
            r
        });
        let tids: Vec<u32> = (0..N - 1).map(|_| tid_rx.recv().unwrap()).collect();
        wait_for_n_waiting(&b, N - 1);
        wait_all_parked(&tids);
        assert_eq!(returned.load(Ordering::SeqCst), 0);
        let last = b.wait().unwrap();
        assert_eq!(last.index(), N - 1);
        assert!(waiters.finish().iter().all(Result::is_ok));
    });
    assert_eq!(returned.load(Ordering::SeqCst), N - 1);
}

#[test]
fn generations_never_mix_stress() {
    const N: usize = 4;
    const ROUNDS: usize = 2_000;
    let arrivals: Vec<AtomicUsize> = (0..ROUNDS).map(|_| AtomicUsize::new(0)).collect();
    let leaders: Vec<AtomicUsize> = (0..ROUNDS).map(|_| AtomicUsize::new(0)).collect();
    let index_sum: Vec<AtomicUsize> = (0..ROUNDS).map(|_| AtomicUsize::new(0)).collect();
    let actions = Arc::new(AtomicUsize::new(0));
    let b = {
        let actions = Arc::clone(&actions);
        Barrier::new(N).with_action(move || {
            actions.fetch_add(1, Ordering::SeqCst);
        })
    };
    bunch(N, |_| {
        for round in 0..ROUNDS {
            arrivals[round].fetch_add(1, Ordering::SeqCst);
            // Timed (but never timing out in a passing run): a wedged round then fails
            // the test instead of hanging it.
            let r = b.wait_timeout(LONG).expect("nobody breaks this barrier");
            // Released means every party of *this* round arrived: no early release,
            // no thread counted in a neighbouring generation.
            let here = arrivals[round].load(Ordering::SeqCst);
            assert_eq!(here, N, "round {round} released with {here} arrivals");
            if round + 1 < ROUNDS {
                assert!(
                    arrivals[round + 1].load(Ordering::SeqCst) < N,
                    "round {} filled before round {round} drained",
                    round + 1
                );
            }
            if r.is_leader() {
                leaders[round].fetch_add(1, Ordering::SeqCst);
            }
            index_sum[round].fetch_add(r.index(), Ordering::SeqCst);
        }
    });
    for round in 0..ROUNDS {
        assert_eq!(arrivals[round].load(Ordering::SeqCst), N, "round {round}");
        assert_eq!(leaders[round].load(Ordering::SeqCst), 1, "round {round}");
        assert_eq!(
            index_sum[round].load(Ordering::SeqCst),
            N * (N - 1) / 2,
            "round {round}: indices not 0..{N}"
        );
    }
    assert_eq!(actions.load(Ordering::SeqCst), ROUNDS);
    assert!(!b.is_broken());
}
