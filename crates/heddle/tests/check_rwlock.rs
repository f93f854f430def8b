//! The checker on `RwLock`: every policy keeps readers and writers apart in every
//! explored schedule, and the classic read-then-upgrade deadlock is found.

use std::sync::Arc;

use heddle::check::{Cell, Checker};
use heddle::sync::{RwLock, RwPolicy};
use heddle::thread::Thread;

const POLICIES: [RwPolicy; 3] = [
    RwPolicy::ReaderPreferring,
    RwPolicy::WriterPreferring,
    RwPolicy::PhaseFair,
];

/// Two writers bump a pair of modelled cells (a schedule point between the two
/// stores), a reader checks they are equal: exclusion must hold in every schedule.
fn readers_and_writers(policy: RwPolicy) {
    let shared = Arc::new((
        RwLock::with_policy((), policy),
        Cell::new(0u32),
        Cell::new(0u32),
    ));
    let writers: Vec<_> = (0..2)
        .map(|i| {
            let s = Arc::clone(&shared);
            Thread::new(move || {
                let _w = s.0.write();
                s.1.set(s.1.get() + 1);
                s.2.set(s.2.get() + 1);
            })
            .name(format!("writer-{i}"))
            .start()
        })
        .collect();
    {
        let _r = shared.0.read();
        assert_eq!(
            shared.1.get(),
            shared.2.get(),
            "a reader saw a half-done write"
        );
    }
    for w in writers {
        w.join().unwrap();
    }
    let _r = shared.0.read();
    assert_eq!((shared.1.get(), shared.2.get()), (2, 2));
}

#[test]
fn every_policy_excludes_writers_in_every_schedule() {
    for policy in POLICIES {
        let coverage = Checker::dfs()
            .preemption_bound(2)
            .run(move || readers_and_writers(policy));
        assert!(coverage.is_exhaustive(), "{policy:?}: {coverage}");
        assert!(coverage.executions() > 10, "{policy:?}: {coverage}");
    }
}

#[test]
fn every_policy_passes_pct() {
    for policy in POLICIES {
        Checker::pct(3)
            .iterations(300)
            .run(move || readers_and_writers(policy));
    }
}

#[test]
fn a_broken_writer_is_caught() {
    // The control: a "writer" that only takes the read lock races the reader.
    let report = Checker::dfs()
        .explore(|| {
            let shared = Arc::new((RwLock::new(()), Cell::new(0u32), Cell::new(0u32)));
            let s = Arc::clone(&shared);
            let w = Thread::new(move || {
                let _not_exclusive = s.0.read();
                s.1.set(1);
                s.2.set(1);
            })
            .start();
            {
                let _r = shared.0.read();
                assert_eq!(
                    shared.1.get(),
                    shared.2.get(),
                    "a reader saw a half-done write"
                );
            }
            w.join().unwrap();
        })
        .unwrap_err();
    assert!(report.message().contains("half-done write"), "{report}");
}

#[test]
fn two_readers_upgrading_deadlock_is_found() {
    // Each thread reads, then wants to write while still reading: each write waits for
    // the other's read to end. The checker finds the schedule and reports the deadlock
    // (or, first, the lock-order mode it runs under reports the potential one).
    for policy in POLICIES {
        let report = Checker::dfs()
            .explore(move || {
                let lock = Arc::new(RwLock::with_policy(0, policy));
                let l = Arc::clone(&lock);
                let t = Thread::new(move || {
                    let r = l.read();
                    let _w = l.write();
                    drop(r);
                })
                .start();
                {
                    let r = lock.read();
                    let _w = lock.write();
                    drop(r);
                }
                t.join().unwrap();
            })
            .unwrap_err();
        let text = report.to_string();
        assert!(
            text.contains("deadlock") || text.contains("DEADLOCK"),
            "{policy:?}: {text}"
        );
        assert!(text.contains("check_rwlock.rs"), "{policy:?}: {text}");
    }
}
