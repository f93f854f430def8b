//! Behaviour tests for `heddle::sync::Lock`, after CPython's `lock_tests.BaseLockTests`
//! and `LockTests`, plus exact-count stress tests.

mod common;

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{bunch, on_panic, os_tid, wait_all_parked, wait_parked, Bunch, LONG, SHORT};
use heddle::sync::{Event, Lock};

static STATIC_LOCK: Lock<u32> = Lock::new(7);

#[test]
fn constructor_and_accessors() {
    let lock = Lock::new(5);
    assert!(!lock.is_locked());
    assert_eq!(*lock.lock(), 5);
    assert_eq!(lock.into_inner(), 5);

    let mut lock: Lock<Vec<u8>> = Lock::default();
    lock.get_mut().push(1);
    assert_eq!(*lock.lock(), vec![1]);

    let lock = Lock::from(String::from("x"));
    assert_eq!(lock.lock().as_str(), "x");

    // `new` is const: a static lock works.
    *STATIC_LOCK.lock() += 1;
    assert!(*STATIC_LOCK.lock() >= 8);
}

#[test]
fn debug_shows_data_or_locked_and_creation_site() {
    let lock = Lock::new(41);
    let free = format!("{lock:?}");
    assert!(free.contains("Lock"), "{free}");
    assert!(free.contains("41"), "{free}");
    assert!(free.contains("created"), "{free}");
    assert!(
        free.contains("tests") && free.contains("lock.rs"),
        "the creation site should name this file: {free}"
    );

    let guard = lock.lock();
    let held = format!("{lock:?}");
    assert!(held.contains("<locked>"), "{held}");
    assert!(!held.contains("41"), "{held}");
    assert_eq!(format!("{guard:?}"), "41");
    assert_eq!(format!("{guard}"), "41");
    drop(guard);
    // Debug must not leave the lock taken.
    assert!(!lock.is_locked());
}

#[test]
fn acquire_release() {
    let lock = Lock::new(());
    let g = lock.lock();
    assert!(lock.is_locked());
    drop(g);
    assert!(!lock.is_locked());
    // Again, to show release left it reusable.
    let g = lock.lock();
    assert!(lock.is_locked());
    drop(g);
    assert!(!lock.is_locked());
}

#[test]
fn guard_gives_mutable_access() {
    let lock = Lock::new(vec![1, 2]);
    lock.lock().push(3);
    {
        let mut g = lock.lock();
        g.retain(|&x| x != 2);
    }
    assert_eq!(*lock.lock(), vec![1, 3]);
}

#[test]
fn try_lock_in_same_thread() {
    let lock = Lock::new(0);
    let g = lock.try_lock().expect("a free lock is taken by try_lock");
    assert!(lock.is_locked());
    assert!(lock.try_lock().is_none(), "a Lock is not re-entrant");
    drop(g);
    assert!(lock.try_lock().is_some());
}

#[test]
fn try_lock_contended_fails_in_other_threads() {
    // Python's test_try_acquire_contended.
    let lock = Lock::new(0);
    let held = lock.lock();
    let results = bunch(4, |_| lock.try_lock().is_none());
    assert!(results.into_iter().all(|failed| failed));
    drop(held);
    let results = bunch(1, |_| lock.try_lock().is_some());
    assert_eq!(results, vec![true]);
}

#[test]
fn lock_timeout_times_out_while_held_elsewhere() {
    let lock = Lock::new(0);
    let (held_tx, held_rx) = mpsc::channel();
    let release = Event::new();
    thread::scope(|s| {
        s.spawn(|| {
            let mut g = lock.lock();
            *g = 1;
            held_tx.send(()).unwrap();
            release.wait();
        });
        held_rx.recv().unwrap();
        assert!(lock.lock_timeout(SHORT).is_none());
        assert!(lock.lock_timeout(Duration::ZERO).is_none());
        // Python's test_state_after_timeout: a timed-out acquire leaves nothing behind.
        assert!(lock.is_locked());
        release.set();
    });
    assert!(!lock.is_locked());
    let g = lock
        .lock_timeout(Duration::ZERO)
        .expect("free lock, zero timeout");
    assert_eq!(*g, 1);
}

#[test]
fn lock_timeout_is_not_reentrant() {
    let lock = Lock::new(());
    let _g = lock.lock();
    assert!(lock.lock_timeout(SHORT).is_none());
}

/// What the docs say re-entry does (issue 13, point 8): `lock` on a `Lock` the thread
/// holds is reported at once as a one-thread cycle; with the default action it panics
/// with the report, and the first guard releases as the panic unwinds past it.
#[test]
fn reentry_is_reported_as_a_one_thread_deadlock() {
    let lock = Lock::new(0);
    let payload = panic::catch_unwind(AssertUnwindSafe(|| {
        let _first = lock.lock();
        let _second = lock.lock();
    }))
    .expect_err("re-entry is reported");
    let report = payload
        .downcast::<heddle::deadlock::DeadlockReport>()
        .expect("the payload is the report");
    assert_eq!(
        report.kind(),
        heddle::deadlock::DeadlockKind::LockCycle,
        "{report}"
    );
    assert!(
        !lock.is_locked(),
        "the first guard released while unwinding"
    );
    *lock.lock() += 1;
    assert_eq!(*lock.lock(), 1);
}

#[test]
fn lock_timeout_zero_on_free_lock_succeeds() {
    let lock = Lock::new(3);
    assert_eq!(lock.lock_timeout(Duration::ZERO).as_deref(), Some(&3));
    assert!(!lock.is_locked());
}

#[test]
fn lock_timeout_succeeds_when_released_before_deadline() {
    let lock = Lock::new(0);
    let main_tid = os_tid();
    let (held_tx, held_rx) = mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            let mut g = lock.lock();
            held_tx.send(()).unwrap();
            // Release only once the main thread sleeps in lock_timeout.
            wait_parked(main_tid);
            *g = 9;
        });
        held_rx.recv().unwrap();
        let g = lock
            .lock_timeout(LONG)
            .expect("released long before the deadline");
        assert_eq!(*g, 9);
    });
}

#[test]
fn unrepresentable_timeout_means_wait_forever() {
    let lock = Lock::new(0);
    assert!(lock.lock_timeout(Duration::MAX).is_some());
    let main_tid = os_tid();
    let (held_tx, held_rx) = mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            let mut g = lock.lock();
            held_tx.send(()).unwrap();
            wait_parked(main_tid);
            *g = 1;
        });
        held_rx.recv().unwrap();
        let g = lock
            .lock_timeout(Duration::MAX)
            .expect("no deadline at all");
        assert_eq!(*g, 1);
    });
}

#[test]
fn held_lock_blocks_other_thread_until_dropped() {
    let lock = Lock::new(0u32);
    let held = Event::new();
    let release = Event::new();
    let b_got_it = AtomicBool::new(false);
    let b_tid = AtomicU32::new(0);
    let (b_ready_tx, b_ready_rx) = mpsc::channel();
    thread::scope(|s| {
        let _rescue = on_panic(|| release.set());
        s.spawn(|| {
            let mut g = lock.lock();
            *g = 1;
            held.set();
            release.wait();
            *g = 2;
        });
        let b = s.spawn(|| {
            held.wait();
            b_tid.store(os_tid(), Ordering::SeqCst);
            b_ready_tx.send(()).unwrap();
            let g = lock.lock();
            b_got_it.store(true, Ordering::SeqCst);
            *g
        });
        b_ready_rx.recv().unwrap();
        wait_parked(b_tid.load(Ordering::SeqCst));
        assert!(lock.is_locked());
        assert!(
            !b_got_it.load(Ordering::SeqCst),
            "B took the lock while A still held it"
        );
        release.set();
        assert_eq!(b.join().unwrap(), 2, "B must see everything A wrote");
        assert!(b_got_it.load(Ordering::SeqCst));
    });
    assert!(!lock.is_locked());
}

#[test]
fn acquire_contended_all_waiters_get_it_after_release() {
    // Python's test_acquire_contended: N threads wait while the main thread holds it.
    const N: usize = 5;
    let lock = Lock::new(0usize);
    let started = AtomicUsize::new(0);
    let (tid_tx, tid_rx) = mpsc::channel();
    let held = lock.lock();
    thread::scope(|s| {
        let f = |_| {
            tid_tx.send(os_tid()).unwrap();
            started.fetch_add(1, Ordering::SeqCst);
            *lock.lock() += 1;
        };
        let b = Bunch::start(s, N, f);
        let tids: Vec<u32> = (0..N).map(|_| tid_rx.recv().unwrap()).collect();
        wait_all_parked(&tids);
        assert_eq!(started.load(Ordering::SeqCst), N);
        assert_eq!(
            *held, 0,
            "nobody may enter while the main thread holds the lock"
        );
        drop(held);
        b.finish();
    });
    assert_eq!(*lock.lock(), N);
}

#[test]
fn guard_dropped_during_panic_releases() {
    let lock = Lock::new(0u64);
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut g = lock.lock();
        *g = 42;
        panic!("boom while holding the lock");
    }));
    assert!(r.is_err());
    assert!(!lock.is_locked(), "unwinding must release the lock");
    // No poisoning: the data keeps what the panicking code left.
    assert_eq!(*lock.try_lock().expect("free after the panic"), 42);
}

#[test]
fn panic_in_another_thread_releases_and_does_not_poison() {
    let lock = Lock::new(0u64);
    let r = thread::scope(|s| {
        s.spawn(|| {
            let mut g = lock.lock();
            *g = 7;
            panic!("worker panics holding the lock");
        })
        .join()
    });
    assert!(r.is_err());
    let mut g = lock
        .lock_timeout(LONG)
        .expect("the panicking thread released it");
    assert_eq!(*g, 7);
    *g += 1;
    drop(g);
    assert_eq!(*lock.lock(), 8);
}

#[test]
fn mutual_exclusion_stress_exact_count() {
    const THREADS: usize = 8;
    const ITERS: u64 = 100_000;
    let lock = Lock::new(0u64);
    bunch(THREADS, |_| {
        for _ in 0..ITERS {
            let mut g = lock.lock();
            // A separate load and store, so a broken lock loses updates.
            let v = black_box(*g);
            *g = v + 1;
        }
    });
    assert_eq!(*lock.lock(), THREADS as u64 * ITERS);
}

#[test]
fn mutual_exclusion_stress_mixed_try_and_timeout() {
    // The three ways in, interleaved, still exclude each other and never lose a count.
    const THREADS: usize = 6;
    const ITERS: u64 = 20_000;
    let lock = Lock::new((0u64, false));
    let taken = AtomicUsize::new(0);
    bunch(THREADS, |i| {
        let mut done = 0;
        while done < ITERS {
            let guard = match i % 3 {
                0 => Some(lock.lock()),
                1 => lock.try_lock(),
                _ => lock.lock_timeout(Duration::from_micros(50)),
            };
            if let Some(mut g) = guard {
                assert!(!g.1, "two threads inside the lock at once");
                g.1 = true;
                let v = black_box(g.0);
                g.0 = v + 1;
                g.1 = false;
                done += 1;
                taken.fetch_add(1, Ordering::Relaxed);
            } else {
                thread::yield_now(); // let the holder run (matters on a single core)
            }
        }
    });
    let total = THREADS as u64 * ITERS;
    assert_eq!(lock.lock().0, total);
    assert_eq!(taken.load(Ordering::Relaxed) as u64, total);
}

#[test]
fn lots_of_threads_lock_once_each() {
    // Python's test_thread_leak: many short-lived threads using one lock.
    const THREADS: usize = 64;
    let lock = Lock::new(Vec::new());
    for round in 0..3 {
        bunch(THREADS, |i| lock.lock().push(i));
        let mut seen = std::mem::take(&mut *lock.lock());
        seen.sort_unstable();
        assert_eq!(seen, (0..THREADS).collect::<Vec<_>>(), "round {round}");
        assert!(!lock.is_locked());
    }
}

#[test]
fn handoff_ping_pong_with_two_locks_and_events() {
    // Sequencing through heddle itself: each side writes only under the lock and only on
    // its turn; the final value proves every turn saw the previous write.
    const TURNS: u64 = 2_000;
    let lock = Lock::new(0u64);
    let ping = Event::new();
    let pong = Event::new();
    thread::scope(|s| {
        s.spawn(|| {
            for n in 0..TURNS {
                ping.wait();
                ping.clear();
                let mut g = lock.lock();
                assert_eq!(*g, 2 * n + 1);
                *g += 1;
                drop(g);
                pong.set();
            }
        });
        for n in 0..TURNS {
            {
                let mut g = lock.lock();
                assert_eq!(*g, 2 * n);
                *g += 1;
            }
            ping.set();
            pong.wait();
            pong.clear();
        }
    });
    assert_eq!(*lock.lock(), 2 * TURNS);
}
