//! The lost-update counter.
//!
//! **The bug** (`racy`): `count += 1` on shared memory is three steps, load, add, store.
//! Two threads that both load the same value both store value + 1: one increment is
//! lost. Python's `counter += 1` on a global has the same race between bytecodes.
//!
//! **The fix** (`locked`): do the read-modify-write under one `Lock` (Python's
//! `with lock: counter += 1`); heddle's `Lock<T>` owns the value, so it cannot be
//! touched without the lock.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use heddle::check::AtomicU64;
use heddle::sync::Lock;
use heddle::thread::Thread;

use crate::{join_all, spawn_n, Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check counter`.
///
/// ```
/// let s = &heddle_lab::counter::SCENARIO;
/// assert_eq!(s.name, "counter");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "counter",
    title: "lost-update counter: racy read-modify-write vs a Lock",
    python: &["threading.Thread", "threading.Lock", "with lock:"],
    variants: &[
        Variant {
            name: "racy",
            broken: true,
            summary:
                "each thread loads, adds one and stores: two loads of one value lose an update",
            run: run_racy,
            check: check_racy,
            exploration: Exploration::new(Strategy::Pct(2), 200),
        },
        Variant {
            name: "locked",
            broken: false,
            summary: "the increment happens under a Lock<u64>, so no update is lost",
            run: run_locked,
            check: check_locked,
            exploration: Exploration::new(Strategy::Dfs(2), 2000),
        },
    ],
};

const ROUNDS: usize = 20_000;

/// The racy increment: a load and a store, two separate steps.
fn racy_increment(counter: &AtomicU64) {
    let v = counter.load(Ordering::SeqCst);
    counter.store(v + 1, Ordering::SeqCst);
}

fn run_racy(cfg: &Config) -> Result<String, String> {
    let counter = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&counter);
    let cfg2 = cfg.clone();
    let done = join_all(spawn_n("counter", cfg.threads, move |_| {
        let mut n = 0;
        while cfg2.more(n, ROUNDS) {
            racy_increment(&c);
            cfg2.tick();
            n += 1;
        }
        n as u64
    }))?;
    let expected: u64 = done.iter().sum();
    let got = counter.load(Ordering::SeqCst);
    if got == expected {
        Ok(format!(
            "{got} of {expected}: no update lost this time (the race is still there; `heddle check counter/racy` finds it)"
        ))
    } else {
        Err(format!(
            "lost {} of {expected} updates (counted {got})",
            expected - got
        ))
    }
}

fn run_locked(cfg: &Config) -> Result<String, String> {
    let counter = Arc::new(Lock::new(0u64));
    let c = Arc::clone(&counter);
    let cfg2 = cfg.clone();
    let done = join_all(spawn_n("counter", cfg.threads, move |_| {
        let mut n = 0;
        while cfg2.more(n, ROUNDS) {
            *c.lock() += 1;
            cfg2.tick();
            n += 1;
        }
        n as u64
    }))?;
    let expected: u64 = done.iter().sum();
    let got = *counter.lock();
    if got == expected {
        Ok(format!("{got} of {expected} increments, none lost"))
    } else {
        Err(format!("counted {got}, expected {expected}"))
    }
}

fn check_racy() {
    let counter = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&counter);
    let t = Thread::new(move || racy_increment(&c))
        .name("counter-1")
        .start();
    racy_increment(&counter);
    t.join().unwrap();
    assert_eq!(counter.load(Ordering::SeqCst), 2, "an update was lost");
}

fn check_locked() {
    let counter = Arc::new(Lock::new(0u64));
    let c = Arc::clone(&counter);
    let t = Thread::new(move || *c.lock() += 1)
        .name("counter-1")
        .start();
    *counter.lock() += 1;
    t.join().unwrap();
    assert_eq!(*counter.lock(), 2, "an update was lost");
}
