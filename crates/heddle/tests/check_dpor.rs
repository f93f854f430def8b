//! DPOR (`Checker::dpor`, issue 12.3): exhaustive search that does not re-order
//! independent steps, so it finishes where bounded DFS runs every schedule; it finds
//! the classic bugs and says when a search was exhaustive.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

use heddle::check::{AtomicUsize, Checker, Coverage, Report};
use heddle::sync::{Condition, Lock};
use heddle::thread::Thread;

fn found(f: impl Fn() + Send + Sync + 'static) -> Report {
    match Checker::dpor().explore(f) {
        Ok(coverage) => panic!("DPOR missed the bug ({coverage})"),
        Err(report) => report,
    }
}

fn passes(f: impl Fn() + Send + Sync + 'static) -> Coverage {
    let coverage = Checker::dpor()
        .iterations(100_000)
        .explore(f)
        .unwrap_or_else(|r| panic!("DPOR failed a correct program:\n{r}"));
    assert!(coverage.is_exhaustive(), "{coverage}");
    coverage
}

/// `n` threads each `load` then `store(v + 1)` (racy) or `fetch_add` (atomic).
fn counter(n: usize, racy: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let c = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let c = c.clone();
                Thread::new(move || {
                    if racy {
                        let v = c.load(SeqCst);
                        c.store(v + 1, SeqCst);
                    } else {
                        c.fetch_add(1, SeqCst);
                    }
                })
                .start()
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.load(SeqCst), n, "an update was lost");
    }
}

/// Threads that each work on their own atomic only: every schedule is equivalent but
/// for where main's joins fall (a join waits for the thread's start and its end).
/// DFS with 2 preemptions runs thousands; DPOR a few dozen (each join can fall before
/// the thread's start, between, or after its end), and is exhaustive.
#[test]
fn independent_threads_take_few_executions() {
    let coverage = passes(independent);
    let dfs = Checker::dfs().explore(independent).unwrap();
    assert!(
        coverage.executions() * 20 < dfs.executions(),
        "DPOR {coverage}, DFS {dfs}"
    );
    assert!(coverage.executions() <= 60, "{coverage}");
}

fn independent() {
    {
        let threads: Vec<_> = (0..3)
            .map(|_| {
                Thread::new(|| {
                    let own = AtomicUsize::new(0);
                    for _ in 0..3 {
                        own.fetch_add(1, SeqCst);
                    }
                })
                .start()
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

#[test]
fn lost_update_is_found_and_fetch_add_passes_exhaustively() {
    let report = found(counter(2, true));
    assert!(report.message().contains("an update was lost"), "{report}");
    let report = found(counter(3, true));
    assert!(report.message().contains("an update was lost"), "{report}");
    let c = passes(counter(3, false));
    // Three increments of one counter: 3! orders, times where the joins fall.
    assert!(c.executions() >= 6, "{c}");
}

/// Philosophers: each takes its left fork then its right one; the last one the other
/// way round (the fix) passes exhaustively; all the same way deadlocks.
fn philosophers(n: usize, fixed: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let forks: Arc<Vec<Lock<u32>>> = Arc::new((0..n).map(|_| Lock::new(0)).collect());
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let forks = forks.clone();
                Thread::new(move || {
                    let (mut l, mut r) = (i, (i + 1) % n);
                    if fixed && i == n - 1 {
                        std::mem::swap(&mut l, &mut r);
                    }
                    let mut a = forks[l].lock();
                    let mut b = forks[r].lock();
                    *a += 1;
                    *b += 1;
                })
                .start()
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

#[test]
fn philosophers_deadlock_is_found_and_the_fix_passes_exhaustively() {
    let report = found(philosophers(3, false));
    assert!(report.message().contains("lock cycle"), "{report}");
    passes(philosophers(3, true));
}

/// Two consumers, one producer, `if` instead of `while` around the condition wait.
fn producer_consumers(recheck: bool) -> impl Fn() + Send + Sync + 'static {
    move || {
        let state = Arc::new((Lock::new(Vec::<u32>::new()), Condition::new()));
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let state = state.clone();
                Thread::new(move || {
                    let (lock, cond) = &*state;
                    let mut items = lock.lock();
                    if recheck {
                        while items.is_empty() {
                            cond.wait(&mut items);
                        }
                    } else if items.is_empty() {
                        cond.wait(&mut items);
                    }
                    items.pop().expect("woken with nothing to take");
                })
                .start()
            })
            .collect();
        for v in 0..2 {
            let (lock, cond) = &*state;
            lock.lock().push(v);
            cond.notify_all();
        }
        for t in consumers {
            t.join().unwrap();
        }
    }
}

#[test]
fn condition_if_instead_of_while_is_found_and_while_passes() {
    let report = found(producer_consumers(false));
    assert!(report.message().contains("woken with nothing"), "{report}");
    passes(producer_consumers(true));
}

// ---------------------------------------------------------------------------------------
// Soundness: DPOR reaches every outcome that running every schedule reaches.

type Outcomes = Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>;

/// The outcomes `program` reaches under DFS with no preemption bound (every schedule)
/// and under DPOR; they must be the same set.
fn same_outcomes(program: fn(&Outcomes)) {
    let run = |checker: Checker| {
        let outcomes: Outcomes = Arc::default();
        let o = outcomes.clone();
        let coverage = checker
            .explore(move || program(&o))
            .unwrap_or_else(|r| panic!("{r}"));
        assert!(coverage.is_exhaustive(), "{coverage}");
        let set = outcomes.lock().unwrap().clone();
        (set, coverage.executions())
    };
    let (all, every) = run(Checker::dfs().preemption_bound(1000));
    let (dpor, reduced) = run(Checker::dpor());
    assert_eq!(
        dpor, all,
        "DPOR ({reduced} executions) vs every schedule ({every})"
    );
    assert!(reduced <= every, "DPOR {reduced} > DFS {every}");
}

fn record(outcomes: &Outcomes, outcome: String) {
    outcomes.lock().unwrap().insert(outcome);
}

/// Store buffering: each thread writes its flag and reads the other's.
#[test]
fn store_buffering_outcomes() {
    same_outcomes(|out| {
        let x = Arc::new(AtomicUsize::new(0));
        let y = Arc::new(AtomicUsize::new(0));
        let (x2, y2) = (x.clone(), y.clone());
        let t = Thread::new(move || {
            x2.store(1, SeqCst);
            y2.load(SeqCst)
        })
        .start();
        y.store(1, SeqCst);
        let r2 = x.load(SeqCst);
        let r1 = t.join().unwrap();
        record(out, format!("{r1}{r2}"));
    });
}

/// A counter under a lock, a reader without it, and a racy writer.
#[test]
fn lock_and_racy_reader_outcomes() {
    same_outcomes(|out| {
        let lock = Arc::new(Lock::new(()));
        let c = Arc::new(AtomicUsize::new(0));
        let locked: Vec<_> = (0..2)
            .map(|_| {
                let (lock, c) = (lock.clone(), c.clone());
                Thread::new(move || {
                    let _g = lock.lock();
                    let v = c.load(SeqCst);
                    c.store(v + 1, SeqCst);
                })
                .start()
            })
            .collect();
        let seen = c.load(SeqCst);
        for t in locked {
            t.join().unwrap();
        }
        record(out, format!("{seen}{}", c.load(SeqCst)));
    });
}

/// An event and a condition: what a waiter sees after it is woken.
#[test]
fn event_and_condition_outcomes() {
    same_outcomes(|out| {
        let ready = heddle::sync::Event::new();
        let x = Arc::new(AtomicUsize::new(0));
        let state = Arc::new((Lock::new(0u32), Condition::new()));
        let (r, x2, s2) = (ready.clone(), x.clone(), state.clone());
        let t = Thread::new(move || {
            r.wait();
            let seen = x2.load(SeqCst);
            let (lock, cond) = &*s2;
            let mut g = lock.lock();
            while *g == 0 {
                cond.wait(&mut g);
            }
            (seen, *g)
        })
        .start();
        x.store(1, SeqCst);
        ready.set();
        x.store(2, SeqCst);
        {
            let (lock, cond) = &*state;
            *lock.lock() = x.load(SeqCst) as u32;
            cond.notify_one();
        }
        let (seen, g) = t.join().unwrap();
        record(out, format!("{seen}{g}"));
    });
}

/// Two producers into a queue of one slot, one consumer: the orders it receives in.
#[test]
fn queue_order_outcomes() {
    same_outcomes(|out| {
        let q = heddle::queue::Queue::bounded(1);
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let q = q.clone();
                Thread::new(move || {
                    q.put(p * 10).unwrap();
                    q.put(p * 10 + 1).unwrap();
                })
                .start()
            })
            .collect();
        let got: Vec<u32> = (0..4).map(|_| q.get().unwrap()).collect();
        for p in producers {
            p.join().unwrap();
        }
        record(out, format!("{got:?}"));
    });
}

/// A binary semaphore as a mutex around a racy increment, and a racy peek.
#[test]
fn semaphore_outcomes() {
    same_outcomes(|out| {
        let sem = Arc::new(heddle::sync::Semaphore::new(1));
        let c = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (sem, c) = (sem.clone(), c.clone());
                Thread::new(move || {
                    let _p = sem.acquire();
                    let v = c.load(SeqCst);
                    c.store(v + 1, SeqCst);
                })
                .start()
            })
            .collect();
        let peek = c.load(SeqCst);
        for t in threads {
            t.join().unwrap();
        }
        record(out, format!("{peek}{}", c.load(SeqCst)));
    });
}
