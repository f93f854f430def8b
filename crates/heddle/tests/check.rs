//! The checker finds the classic concurrency bugs, and passes their fixed versions.
//!
//! Each bug is a small test closure run under `heddle::check`; the assertions are on the
//! failure report a person would read (which threads, which operations, which source
//! lines), and the fixed version must pass, exhaustively where DFS can say so.
//!
//! No test here asserts on time: the checker runs everything on one OS thread with
//! virtual time, so these finish in milliseconds whatever the machine.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use heddle::check::{AtomicUsize, Cell, Checker, Coverage, Report};
use heddle::sync::{Barrier, Condition, Lock};
use heddle::thread::Thread;

const FILE: &str = "heddle/tests/check.rs";

/// `file:line` as the report prints it.
fn at(line: u32) -> String {
    format!("{FILE}:{line}")
}

fn explore(checker: Checker, f: impl Fn() + Send + Sync + 'static) -> Report {
    match checker.explore(f) {
        Ok(coverage) => panic!("the checker missed the bug ({coverage})"),
        Err(report) => {
            if std::env::var_os("SHOW").is_some() {
                eprintln!("{report}");
            }
            report
        }
    }
}

fn pass(checker: Checker, f: impl Fn() + Send + Sync + 'static) -> Coverage {
    checker
        .explore(f)
        .unwrap_or_else(|report| panic!("the fixed version failed:\n{report}"))
}

fn assert_exhaustive(coverage: &Coverage) {
    assert!(coverage.is_exhaustive(), "not exhaustive: {coverage}");
    assert!(coverage.executions() > 1, "only one schedule: {coverage}");
}

// ---------------------------------------------------------------------------------------
// The lost update.

/// The racy increment; returns the source lines of its load and store.
fn racy_increment(c: &AtomicUsize) -> (u32, u32) {
    let (v, load) = (c.load(SeqCst), line!());
    let ((), store) = (c.store(v + 1, SeqCst), line!());
    (load, store)
}

/// Two named threads increment a shared counter with `increment`; main checks the sum.
fn two_adders(increment: fn(&AtomicUsize)) -> impl Fn() + Send + Sync + 'static {
    move || {
        let counter = Arc::new(AtomicUsize::new(0));
        let adders: Vec<_> = ["adder-1", "adder-2"]
            .into_iter()
            .map(|name| {
                let c = Arc::clone(&counter);
                Thread::new(move || increment(&c)).name(name).start()
            })
            .collect();
        for t in adders {
            t.join().unwrap();
        }
        assert_eq!(counter.load(SeqCst), 2, "an update was lost");
    }
}

fn assert_lost_update_report(report: &Report) {
    let text = report.to_string();
    let (load, store) = racy_increment(&AtomicUsize::new(0));
    assert!(report.message().contains("an update was lost"), "{text}");
    for needle in [
        "adder-1",
        "adder-2",
        "MainThread",
        "load",
        "store",
        "replay",
    ] {
        assert!(
            text.contains(needle),
            "the report does not mention {needle:?}:\n{text}"
        );
    }
    for line in [load, store] {
        assert!(
            text.contains(&at(line)),
            "the report does not show {}:\n{text}",
            at(line)
        );
    }
    assert!(report.token().starts_with("hc1."), "{text}");
    // A lost update needs a thread switch between a load and its store.
    assert!(report.preemptions() >= 1, "{text}");
}

#[test]
fn lost_update_found_by_random() {
    let report = explore(
        Checker::random().iterations(1000),
        two_adders(|c| {
            racy_increment(c);
        }),
    );
    assert_lost_update_report(&report);
}

#[test]
fn lost_update_found_by_pct() {
    let report = explore(
        Checker::pct(2).iterations(1000),
        two_adders(|c| {
            racy_increment(c);
        }),
    );
    assert_lost_update_report(&report);
}

#[test]
fn lost_update_found_by_dfs() {
    let report = explore(
        Checker::dfs(),
        two_adders(|c| {
            racy_increment(c);
        }),
    );
    assert_lost_update_report(&report);
}

#[test]
fn fetch_add_passes_dfs_exhaustively() {
    let coverage = pass(
        Checker::dfs(),
        two_adders(|c| {
            c.fetch_add(1, SeqCst);
        }),
    );
    assert_exhaustive(&coverage);
}

// ---------------------------------------------------------------------------------------
// AB-BA.

type TwoLocks = (Arc<Lock<u32>>, Arc<Lock<u32>>, u32, u32);

/// Two locks, with the lines that created them.
fn two_locks() -> TwoLocks {
    let (a, a_line) = (Arc::new(Lock::new(0)), line!());
    let (b, b_line) = (Arc::new(Lock::new(0)), line!());
    (a, b, a_line, b_line)
}

/// Thread "ab" takes a then b; thread "ba" takes them in the order `ba_order` says.
fn transfer(reversed: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let (a, b, _, _) = two_locks();
        let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
        let ab = Thread::new(move || {
            let mut x = a2.lock();
            let mut y = b2.lock();
            *x += 1;
            *y += 1;
        })
        .name("ab")
        .start();
        let ba = Thread::new(move || {
            if reversed {
                let mut y = b.lock();
                let mut x = a.lock();
                *x += 1;
                *y += 1;
            } else {
                let mut x = a.lock();
                let mut y = b.lock();
                *x += 1;
                *y += 1;
            }
        })
        .name("ba")
        .start();
        ab.join().unwrap();
        ba.join().unwrap();
    }
}

#[test]
fn ab_ba_deadlock_found() {
    let report = explore(Checker::dfs(), transfer(true));
    let text = report.to_string();
    let message = report.message().to_lowercase();
    assert!(
        message.contains("deadlock") || message.contains("lock cycle"),
        "not reported as a deadlock:\n{text}"
    );
    let (_, _, a_line, b_line) = two_locks();
    for line in [a_line, b_line] {
        assert!(
            report.message().contains(&format!("created {}", at(line))),
            "the report does not name the lock created at {}:\n{text}",
            at(line)
        );
    }
}

#[test]
fn ab_ba_found_by_random_and_pct() {
    for checker in [
        Checker::random().iterations(2000),
        Checker::pct(2).iterations(2000),
    ] {
        let report = explore(checker, transfer(true));
        assert!(
            report.message().to_lowercase().contains("deadlock"),
            "not reported as a deadlock:\n{report}"
        );
    }
}

#[test]
fn ordered_locks_pass_dfs_exhaustively() {
    let coverage = pass(Checker::dfs(), transfer(false));
    assert_exhaustive(&coverage);
}

// ---------------------------------------------------------------------------------------
// Condition: `if` instead of `while`.

/// Two consumers and one producer of two items, one at a time, with `notify_all`.
fn producer_consumers(recheck: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let shared = Arc::new((Lock::new(Vec::<u32>::new()), Condition::new()));
        let consumers: Vec<_> = ["consumer-1", "consumer-2"]
            .into_iter()
            .map(|name| {
                let s = Arc::clone(&shared);
                Thread::new(move || {
                    let (buffer, nonempty) = &*s;
                    let mut items = buffer.lock();
                    if recheck {
                        nonempty.wait_while(&mut items, |items| items.is_empty());
                    } else if items.is_empty() {
                        // The bug: another consumer may take the item between the
                        // notification and this thread re-taking the lock.
                        nonempty.wait(&mut items);
                    }
                    items.pop().expect("popped an empty buffer")
                })
                .name(name)
                .start()
            })
            .collect();
        let s = Arc::clone(&shared);
        let producer = Thread::new(move || {
            let (buffer, nonempty) = &*s;
            for item in 1..=2 {
                buffer.lock().push(item);
                nonempty.notify_all();
            }
        })
        .name("producer")
        .start();
        producer.join().unwrap();
        let mut got: Vec<u32> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    }
}

#[test]
fn condition_if_instead_of_while_found() {
    for checker in [
        Checker::dfs(),
        Checker::pct(3).iterations(2000),
        Checker::random().iterations(2000),
    ] {
        let report = explore(checker, producer_consumers(false));
        let text = report.to_string();
        assert!(
            report.message().contains("popped an empty buffer"),
            "{text}"
        );
        assert!(
            report.message().contains("consumer-1") || report.message().contains("consumer-2"),
            "{text}"
        );
        for needle in ["producer", "notify_all", "wait"] {
            assert!(
                text.contains(needle),
                "the report does not mention {needle:?}:\n{text}"
            );
        }
    }
}

#[test]
fn condition_while_passes() {
    let coverage = pass(Checker::dfs(), producer_consumers(true));
    assert_exhaustive(&coverage);
    pass(Checker::pct(3).iterations(300), producer_consumers(true));
    pass(Checker::random().iterations(300), producer_consumers(true));
}

// ---------------------------------------------------------------------------------------
// Barrier reuse: a round's data overwritten by the next round.

/// Two threads, two rounds: the leader-to-be (index 0 of the spawn order) publishes the
/// round number in a shared cell, everybody waits at the barrier, then reads it. Without
/// a second `wait` after the read, the publisher can run into the next round and
/// overwrite the cell before the other thread has read this round's value.
fn rounds(second_wait: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let barrier = Arc::new(Barrier::new(2));
        let published = Arc::new(Cell::new(usize::MAX));
        let workers: Vec<_> = (0..2)
            .map(|me| {
                let (barrier, published) = (Arc::clone(&barrier), Arc::clone(&published));
                Thread::new(move || {
                    for round in 0..2 {
                        if me == 0 {
                            published.set(round);
                        }
                        barrier.wait().unwrap();
                        assert_eq!(published.get(), round, "read another round's value");
                        if second_wait {
                            barrier.wait().unwrap();
                        }
                    }
                })
                .name(format!("worker-{me}"))
                .start()
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
    }
}

#[test]
fn barrier_reuse_race_found() {
    for checker in [
        Checker::dfs(),
        Checker::pct(2).iterations(2000),
        Checker::random().iterations(2000),
    ] {
        let report = explore(checker, rounds(false));
        let text = report.to_string();
        assert!(
            report.message().contains("read another round's value"),
            "{text}"
        );
        for needle in ["worker-0", "worker-1", "Barrier", "set", "get"] {
            assert!(
                text.contains(needle),
                "the report does not mention {needle:?}:\n{text}"
            );
        }
    }
}

#[test]
fn barrier_with_second_wait_passes() {
    let coverage = pass(Checker::dfs(), rounds(true));
    assert_exhaustive(&coverage);
    pass(Checker::pct(2).iterations(300), rounds(true));
    pass(Checker::random().iterations(300), rounds(true));
}
