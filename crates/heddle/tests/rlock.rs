//! Behaviour tests for `heddle::sync::RLock`, after CPython's `lock_tests.RLockTests`,
//! plus a recursive exact-count stress test.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{bunch, os_tid, wait_parked, LONG, SHORT};
use heddle::sync::{Event, RLock, RLockError};

static STATIC_RLOCK: RLock<()> = RLock::new(());

#[test]
fn constructor_and_accessors() {
    let lock = RLock::new(5);
    assert!(!lock.is_locked());
    assert!(!lock.is_owned_by_current_thread());
    assert_eq!(lock.depth(), 0);
    assert_eq!(*lock.lock(), 5);
    assert_eq!(lock.into_inner(), 5);

    let mut lock: RLock<Vec<u8>> = RLock::default();
    lock.get_mut().push(1);
    assert_eq!(*lock.lock(), vec![1]);

    let _g = STATIC_RLOCK.lock();
    assert!(STATIC_RLOCK.is_owned_by_current_thread());
}

#[test]
fn debug_shows_data_and_site() {
    let lock = RLock::new(17);
    let s = format!("{lock:?}");
    assert!(s.contains("RLock") && s.contains("17"), "{s}");
    assert!(s.contains("tests") && s.contains("rlock.rs"), "{s}");
    // Held by this thread: Debug re-enters and still shows the data.
    let g = lock.lock();
    assert!(format!("{lock:?}").contains("17"));
    assert_eq!(format!("{g:?}"), "17");
    // Held by another thread: Debug must not block.
    drop(g);
    let held = Event::new();
    let done = Event::new();
    thread::scope(|s| {
        s.spawn(|| {
            let _g = lock.lock();
            held.set();
            done.wait();
        });
        held.wait();
        let s = format!("{lock:?}");
        assert!(s.contains("<locked>"), "{s}");
        done.set();
    });
    assert_eq!(lock.depth(), 0);
    assert!(!lock.is_locked());
}

#[test]
fn reentrancy_depth_counts_every_level() {
    let lock = RLock::new(Cell::new(0));
    let a = lock.lock();
    assert_eq!(lock.depth(), 1);
    let b = lock.lock();
    let c = lock.try_lock().expect("re-entry through try_lock");
    let d = lock
        .lock_timeout(Duration::ZERO)
        .expect("re-entry through lock_timeout never waits");
    assert_eq!(lock.depth(), 4);
    assert!(lock.is_owned_by_current_thread());
    d.set(d.get() + 1);
    drop(d);
    assert_eq!(lock.depth(), 3);
    drop(c);
    drop(b);
    assert_eq!(lock.depth(), 1);
    assert!(lock.is_locked());
    assert_eq!(a.get(), 1);
    drop(a);
    assert_eq!(lock.depth(), 0);
    assert!(!lock.is_locked());
    assert!(!lock.is_owned_by_current_thread());
}

#[test]
fn guards_released_out_of_order_still_count_levels() {
    let lock = RLock::new(());
    let outer = lock.lock();
    let inner = lock.lock();
    drop(outer);
    assert!(lock.is_locked(), "one level is still held");
    assert_eq!(lock.depth(), 1);
    // And another thread still cannot take it.
    assert_eq!(bunch(1, |_| lock.try_lock().is_none()), vec![true]);
    drop(inner);
    assert!(!lock.is_locked());
    assert_eq!(bunch(1, |_| lock.try_lock().is_some()), vec![true]);
}

#[test]
fn manual_acquire_release_pairs() {
    let lock = RLock::new(());
    lock.acquire();
    lock.acquire();
    lock.acquire();
    assert_eq!(lock.depth(), 3);
    assert_eq!(lock.release(), Ok(()));
    assert_eq!(lock.release(), Ok(()));
    assert!(lock.is_locked());
    assert_eq!(lock.release(), Ok(()));
    assert!(!lock.is_locked());
    // Python's test_release_unacquired: one release too many is an error.
    assert_eq!(lock.release(), Err(RLockError::NotOwner));
    assert!(!lock.is_locked());
}

#[test]
fn release_unheld_is_not_owner_with_actionable_message() {
    let lock = RLock::new(());
    let err = lock.release().unwrap_err();
    assert_eq!(err, RLockError::NotOwner);
    let msg = err.to_string();
    assert!(msg.contains("does not hold"), "{msg}");
    assert!(
        msg.contains("release it from the thread that acquired it"),
        "the message should say what to do: {msg}"
    );
    let as_error: &dyn std::error::Error = &err;
    assert_eq!(as_error.to_string(), msg);
}

#[test]
fn release_from_another_thread_is_not_owner() {
    // Python's RLockTests.test_different_thread.
    let lock = RLock::new(());
    lock.acquire();
    lock.acquire();
    let results = bunch(1, |_| {
        (
            lock.release(),
            lock.is_owned_by_current_thread(),
            lock.depth(),
            lock.is_locked(),
        )
    });
    assert_eq!(results, vec![(Err(RLockError::NotOwner), false, 0, true)]);
    // Nothing changed for the owner.
    assert_eq!(lock.depth(), 2);
    lock.release().unwrap();
    lock.release().unwrap();
    assert!(!lock.is_locked());
}

/// Issue 11, point 3: `release()` of a level a guard holds, then the guard dropped after
/// another thread took the lock, used to release that other thread's hold (and race on
/// the depth). `release()` now only gives back levels taken by `acquire()`, so the guard
/// keeps its level until it is dropped.
#[test]
fn release_cannot_take_a_guards_level() {
    let lock = RLock::new(());
    let guard = lock.lock();
    assert_eq!(lock.release(), Err(RLockError::HeldByGuards));
    assert!(lock.is_owned_by_current_thread());
    assert_eq!(lock.depth(), 1);
    // Another thread cannot take it while the guard lives...
    assert_eq!(bunch(1, |_| lock.try_lock().is_none()), vec![true]);
    drop(guard);
    // ...and gets it once the guard is gone; its hold is its own.
    let (taken, owner_after) = std::thread::scope(|s| {
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let lock = &lock;
        let other = s.spawn(move || {
            let g = lock.lock();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            let still = lock.is_owned_by_current_thread() && lock.depth() == 1;
            drop(g);
            still
        });
        held_rx.recv().unwrap();
        // The owner's level is not ours: neither release nor a guard can end it.
        assert_eq!(lock.release(), Err(RLockError::NotOwner));
        assert!(lock.try_lock().is_none());
        go_tx.send(()).unwrap();
        (other.join().unwrap(), lock.is_locked())
    });
    assert!(taken, "the other thread kept its hold at depth 1");
    assert!(!owner_after);
}

/// Manual levels and guard levels mix: `release()` gives back only the manual ones, in
/// any order with the guards.
#[test]
fn release_gives_back_only_acquired_levels() {
    let lock = RLock::new(());
    lock.acquire();
    let g = lock.lock();
    lock.acquire();
    assert_eq!(lock.depth(), 3);
    assert_eq!(lock.release(), Ok(()));
    assert_eq!(lock.release(), Ok(()));
    assert_eq!(lock.release(), Err(RLockError::HeldByGuards));
    assert_eq!(lock.depth(), 1);
    drop(g);
    assert!(!lock.is_locked());
    assert_eq!(lock.release(), Err(RLockError::NotOwner));
}

#[test]
fn held_by_guards_message_says_what_to_do() {
    let msg = RLockError::HeldByGuards.to_string();
    assert!(msg.contains("drop the guard"), "{msg}");
}

/// Issue 13, point 8: `Debug` shows the owner's ident and the depth.
#[test]
fn debug_shows_owner_and_depth() {
    let lock = RLock::new(5);
    let free = format!("{lock:?}");
    assert!(free.contains("data: 5, owner: None, depth: 0"), "{free}");
    let me = heddle::thread::current().ident();
    let a = lock.lock();
    let b = lock.lock();
    let held = format!("{lock:?}");
    assert!(
        held.contains(&format!("owner: Some({me}), depth: 2")),
        "{held}"
    );
    // From another thread: the data is not shown, the owner and depth are.
    let seen = bunch(1, |_| format!("{lock:?}")).pop().unwrap();
    assert!(
        seen.contains(&format!("data: <locked>, owner: Some({me}), depth: 2")),
        "{seen}"
    );
    drop((a, b));
    assert_eq!(lock.depth(), 0);
}

#[test]
fn is_owned_and_depth_seen_from_other_threads() {
    // Python's test__is_owned.
    let lock = RLock::new(());
    assert!(!lock.is_owned_by_current_thread());
    let _a = lock.lock();
    let _b = lock.lock();
    assert!(lock.is_owned_by_current_thread());
    let seen = bunch(3, |_| (lock.is_owned_by_current_thread(), lock.depth()));
    assert!(seen.iter().all(|&s| s == (false, 0)), "{seen:?}");
}

#[test]
fn try_lock_and_timeout_fail_across_threads_while_held() {
    let lock = RLock::new(());
    let g = lock.lock();
    let r = bunch(4, |i| {
        if i % 2 == 0 {
            lock.try_lock().is_none()
        } else {
            lock.lock_timeout(SHORT).is_none()
        }
    });
    assert!(r.into_iter().all(|failed| failed));
    drop(g);
    assert_eq!(bunch(2, |_| lock.try_lock().is_some()), vec![true, true]);
}

#[test]
fn waiter_gets_lock_only_after_last_level_dropped() {
    let lock = RLock::new(Cell::new(0u32));
    let main_tid = os_tid();
    let (held_tx, held_rx) = mpsc::channel();
    let main_got_it = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let outer = lock.lock();
            let inner = lock.lock();
            outer.set(1);
            held_tx.send(()).unwrap();
            wait_parked(main_tid);
            drop(inner);
            // One level left: still ours, the main thread must still wait.
            assert!(lock.is_owned_by_current_thread());
            assert_eq!(lock.depth(), 1);
            assert!(!main_got_it.load(Ordering::SeqCst));
            outer.set(2);
            drop(outer);
        });
        held_rx.recv().unwrap();
        let g = lock
            .lock_timeout(LONG)
            .expect("released long before the deadline");
        main_got_it.store(true, Ordering::SeqCst);
        assert_eq!(g.get(), 2);
        assert_eq!(lock.depth(), 1);
    });
}

#[test]
fn panic_while_holding_several_levels_releases_them() {
    let lock = RLock::new(Cell::new(0));
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let a = lock.lock();
        let _b = lock.lock();
        a.set(5);
        panic!("boom at depth 2");
    }));
    assert!(r.is_err());
    assert!(!lock.is_locked(), "every level released while unwinding");
    assert_eq!(lock.depth(), 0);
    // Not poisoned, data kept, usable from another thread.
    assert_eq!(
        bunch(1, |_| lock.try_lock().map(|g| g.get())),
        vec![Some(5)]
    );
}

#[test]
fn panic_in_inner_level_keeps_outer_level() {
    let lock = RLock::new(());
    let outer = lock.lock();
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let _inner = lock.lock();
        assert_eq!(lock.depth(), 2);
        panic!("inner");
    }));
    assert!(r.is_err());
    assert_eq!(lock.depth(), 1);
    assert!(lock.is_owned_by_current_thread());
    assert_eq!(bunch(1, |_| lock.try_lock().is_none()), vec![true]);
    drop(outer);
    assert!(!lock.is_locked());
}

#[test]
fn panic_in_another_thread_releases() {
    let lock = RLock::new(Cell::new(0));
    let r = thread::scope(|s| {
        s.spawn(|| {
            let g = lock.lock();
            let _g2 = lock.lock();
            g.set(3);
            panic!("worker panics at depth 2");
        })
        .join()
    });
    assert!(r.is_err());
    let g = lock.lock_timeout(LONG).expect("released by unwinding");
    assert_eq!(g.get(), 3);
    assert_eq!(lock.depth(), 1);
}

/// Data for the stress test: only ever touched under the RLock.
struct Counted {
    count: Cell<u64>,
    inside: Cell<bool>,
}

#[test]
fn recursive_stress_exact_count() {
    const THREADS: usize = 4;
    const ITERS: u64 = 20_000;
    let lock = RLock::new(Counted {
        count: Cell::new(0),
        inside: Cell::new(false),
    });
    bunch(THREADS, |_| {
        for _ in 0..ITERS {
            let l1 = lock.lock();
            assert!(!l1.inside.get(), "two threads inside the RLock at once");
            l1.inside.set(true);
            let l2 = lock.lock();
            let l3 = lock.lock();
            assert_eq!(lock.depth(), 3);
            // Each level adds one, with a separate load and store.
            for level in [&l1, &l2, &l3] {
                let v = black_box(level.count.get());
                level.count.set(v + 1);
            }
            drop(l3);
            drop(l2);
            l1.inside.set(false);
            drop(l1);
        }
    });
    assert_eq!(lock.lock().count.get(), 3 * THREADS as u64 * ITERS);
    assert!(!lock.is_locked());
}
