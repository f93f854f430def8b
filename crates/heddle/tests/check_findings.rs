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

// ---------------------------------------------------------------------------------------
// Reports a person can act on (12.6).

/// Accounts made by one constructor, transferred between in opposite orders: the cycle
/// names each account's lock apart, `Lock#1` and `Lock#2`, at their one creation site.
#[test]
fn locks_made_at_one_site_are_told_apart_in_the_cycle() {
    fn account() -> Arc<Lock<i64>> {
        Arc::new(Lock::new(100))
    }
    let report = explore(Checker::dfs(), || {
        let accounts = [account(), account()];
        let [x, y] = accounts.clone();
        let t = Thread::new(move || {
            let _from = x.lock();
            let _to = y.lock();
        })
        .start();
        {
            let _from = accounts[1].lock();
            let _to = accounts[0].lock();
        }
        t.join().unwrap();
    });
    let message = report.message();
    assert!(message.contains("lock cycle"), "{report}");
    assert!(message.contains("Lock#1 (created"), "{report}");
    assert!(message.contains("Lock#2 (created"), "{report}");
}

/// A join that never returns names the thread joined, and default thread names come
/// from the execution (`Thread-1` in every execution and in the replay), not from a
/// process-wide counter.
#[test]
fn a_join_names_the_thread_and_names_repeat_in_a_replay() {
    let program = || {
        let never = heddle::sync::Event::new();
        let n = never.clone();
        let t = Thread::new(move || {
            n.wait();
        })
        .start();
        t.join().unwrap();
    };
    // Threads started before, outside the checker, must not shift the numbering.
    Thread::new(|| {}).start().join().unwrap();
    let report = explore(Checker::random().iterations(20), program);
    let message = report.message();
    assert!(
        message.contains("'MainThread' waits in join thread 'Thread-1'"),
        "{report}"
    );
    let again = explore(Checker::random().iterations(20), program);
    assert_eq!(report.to_string(), again.to_string());
    match heddle::check::try_replay(report.token(), program) {
        Err(heddle::check::ReplayError::Failed(replayed)) => {
            assert_eq!(replayed.message(), report.message())
        }
        other => panic!("the replay did not fail the same way: {other:?}"),
    }
}

/// Taking the write lock while holding the read lock: the report says the thread holds
/// the read lock it waits to upgrade, as the runtime report does.
#[test]
fn a_read_to_write_upgrade_is_described() {
    let report = explore(Checker::random().iterations(5), || {
        let rw = heddle::sync::RwLock::new(0);
        let _r = rw.read();
        let _w = rw.write();
    });
    assert!(
        report.message().contains("holds it for reading itself"),
        "{report}"
    );
}

/// A pool task unwound by a deadlock report: its future's error carries the report's
/// text, not "<non-string panic payload>".
#[test]
fn a_pool_future_unwound_by_a_report_carries_its_text() {
    let pool = heddle::pool::ThreadPool::new();
    let future = pool
        .submit(|| {
            let lock = Lock::new(());
            let _held = lock.lock();
            let _again = lock.lock();
        })
        .expect("the pool takes the task");
    let error = future.result().unwrap_err().to_string();
    assert!(error.contains("heddle: DEADLOCK"), "{error}");
    assert!(!error.contains("non-string"), "{error}");
}

// ---------------------------------------------------------------------------------------
// Shrinking (12.5).

/// Two threads each `load` then `store(v + 1)`; main joins both and checks.
fn lost_update() {
    use heddle::check::AtomicUsize;
    use std::sync::atomic::Ordering::SeqCst;
    let counter = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let c = Arc::clone(&counter);
            Thread::new(move || {
                let v = c.load(SeqCst);
                c.store(v + 1, SeqCst);
            })
            .start()
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(counter.load(SeqCst), 2, "an update was lost");
}

/// Whatever schedule random or PCT found, the report keeps the simplest: 1 preemption
/// (the first thread is switched away from between its load and its store), and of
/// those the fewest steps, 13: main starts, spawns twice and blocks joining (4); the
/// first thread starts and loads (2); the second starts, loads and stores (3); the
/// first stores (1); main's join returns, it joins the second and loads (3).
#[test]
fn a_failure_is_shrunk_to_the_fewest_preemptions_then_steps() {
    for seed in 1..6 {
        for checker in [
            Checker::random().seed(seed).iterations(500),
            Checker::pct(3).seed(seed).iterations(500),
        ] {
            let report = explore(checker, lost_update);
            assert_eq!(report.preemptions(), 1, "seed {seed}:\n{report}");
            assert_eq!(report.steps(), 13, "seed {seed}:\n{report}");
            assert!(
                report.to_string().contains("fewest preemptions"),
                "{report}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// A bug random and PCT miss (12.4).

/// `early` threads start first, each with two stages; the first of them sets a flag in
/// its first stage and clears it in its second. Then one more thread starts and reads
/// the flag twice: the bug is both reads falling between the first thread's stages.
/// With `late_first`, that reader is started first instead (the easy version).
fn late_spawn(early: usize, late_first: bool) -> impl Fn() + Send + Sync + 'static {
    use heddle::check::AtomicUsize;
    use std::sync::atomic::Ordering::SeqCst;
    move || {
        let flag = Arc::new(AtomicUsize::new(0));
        let work = Arc::new(AtomicUsize::new(0));
        let reader = {
            let flag = flag.clone();
            move || {
                let a = flag.load(SeqCst);
                let b = flag.load(SeqCst);
                assert!(
                    !(a == 1 && b == 1),
                    "read the flag twice between the stages"
                );
            }
        };
        let mut threads = Vec::new();
        if late_first {
            threads.push(Thread::new(reader.clone()).start());
        }
        for i in 0..early {
            let (flag, work) = (flag.clone(), work.clone());
            threads.push(
                Thread::new(move || {
                    if i == 0 {
                        flag.store(1, SeqCst);
                        flag.store(0, SeqCst);
                    } else {
                        work.fetch_add(1, SeqCst);
                        work.fetch_add(1, SeqCst);
                    }
                })
                .start(),
            );
        }
        if !late_first {
            threads.push(Thread::new(reader).start());
        }
        for t in threads {
            t.join().unwrap();
        }
    }
}

/// The default strategy (partial-order sampling) finds the late-spawned reader slipping
/// between the two stages of the first of 99 earlier threads; random walk does not
/// find it in 20,000 executions, PCT in a few hundred (see `heddle-bench -- check`).
#[test]
fn the_default_strategy_finds_a_late_spawned_thread_between_two_stages() {
    let report = explore(Checker::new().iterations(1000), late_spawn(99, false));
    assert!(report.message().contains("between the stages"), "{report}");
    // And the easy version, with the reader started first.
    explore(Checker::new().iterations(1000), late_spawn(99, true));
}
