//! Issue 12: what the checker reports is a schedule that actually fails, said so a
//! person can act on it.
//!
//! Lock-order mode is off in this binary (its default): a checker failure must be a real
//! failure found by exploration. Iterations stay small: these run on 2 cores in CI.

use std::sync::Arc;

use heddle::check::{Checker, Report};
use heddle::sync::{Lock, Semaphore};
use heddle::thread::Thread;

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

/// Two threads take A and B in opposite orders, each first taking a gate: a common
/// `Lock`, or a binary `Semaphore`. The gate lets one of them in at a time, so no
/// schedule deadlocks.
fn gated_inversion(semaphore: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let gate = Arc::new(Lock::new(()));
        let permit = Arc::new(Semaphore::new(1));
        let a = Arc::new(Lock::new(0));
        let b = Arc::new(Lock::new(0));
        let path = move |first: Arc<Lock<i32>>, second: Arc<Lock<i32>>| {
            let (gate, permit) = (gate.clone(), permit.clone());
            move || {
                let _g = (!semaphore).then(|| gate.lock());
                let _p = semaphore.then(|| permit.acquire());
                let mut x = first.lock();
                let mut y = second.lock();
                *x += 1;
                *y += 1;
            }
        };
        let t = Thread::new(path(a.clone(), b.clone())).start();
        path(b, a)();
        t.join().unwrap();
    }
}

#[test]
fn a_gated_inversion_is_no_failure() {
    for semaphore in [false, true] {
        let coverage = Checker::dfs()
            .explore(gated_inversion(semaphore))
            .unwrap_or_else(|r| panic!("false report (semaphore gate: {semaphore}):\n{r}"));
        assert!(coverage.is_exhaustive(), "{coverage}");
        Checker::random()
            .iterations(200)
            .explore(gated_inversion(semaphore))
            .unwrap_or_else(|r| panic!("false report (semaphore gate: {semaphore}):\n{r}"));
    }
}

/// Two locks taken in both orders with no gate, one thread after the other (joined in
/// between): no schedule deadlocks, so no failure (lock-order mode is opt-in).
#[test]
fn an_inversion_that_cannot_overlap_is_no_failure() {
    let coverage = Checker::dfs()
        .explore(|| {
            let a = Arc::new(Lock::new(()));
            let b = Arc::new(Lock::new(()));
            let (a2, b2) = (a.clone(), b.clone());
            Thread::new(move || {
                let _a = a2.lock();
                let _b = b2.lock();
            })
            .start()
            .join()
            .unwrap();
            let _b = b.lock();
            let _a = a.lock();
        })
        .unwrap_or_else(|r| panic!("false report with lock-order mode off:\n{r}"));
    assert!(coverage.is_exhaustive());
}

/// The real AB-BA: found by exploration and reported as the cycle that happened, not as
/// a potential inversion.
#[test]
fn a_real_ab_ba_is_reported_as_a_cycle() {
    let report = explore(Checker::dfs(), || {
        let a = Arc::new(Lock::new(()));
        let b = Arc::new(Lock::new(()));
        let (a2, b2) = (a.clone(), b.clone());
        let t = Thread::new(move || {
            let _a = a2.lock();
            let _b = b2.lock();
        })
        .start();
        {
            let _b = b.lock();
            let _a = a.lock();
        }
        t.join().unwrap();
    });
    let text = report.to_string();
    assert!(report.message().contains("lock cycle"), "{text}");
    assert!(!text.contains("POTENTIAL"), "{text}");
}
