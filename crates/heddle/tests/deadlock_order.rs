//! Lock-order mode (`heddle::deadlock::enable_lock_order`, issue 4): lockdep-style
//! classes by creation site; an inversion is reported as `PotentialLockOrder` the first
//! time it is *possible*, before any thread blocks, with both acquisition chains. Only
//! locks still held form edges; locks of one class are checked per pair of instances.
//!
//! Lock-order mode is process-wide, so it has this binary to itself: every test turns it
//! on first, and nothing here turns it off. The tests never really deadlock: the two
//! orders are taken one after the other (the first thread is joined before the second
//! starts), so a report can only come from the order graph. Every test creates its own
//! locks (its own classes), so tests running side by side do not see each other's
//! edges.

use std::sync::Arc;

use heddle::deadlock::{self, DeadlockKind, DeadlockReport};
use heddle::sync::{BoundedSemaphore, Lock, RLock, Semaphore};
use heddle::thread::{JoinHandle, Thread};

/// This file as report locations print it.
const FILE: &str = "heddle/tests/deadlock_order.rs";

fn at(line: u32) -> String {
    format!("{FILE}:{line}")
}

fn order_mode() {
    deadlock::enable_lock_order(true);
    assert!(deadlock::lock_order_enabled());
}

/// `Ok` if the thread finished, the report if it panicked with one.
fn outcome<T>(handle: JoinHandle<T>) -> Result<T, DeadlockReport> {
    match handle.join() {
        Ok(v) => Ok(v),
        Err(e) => match e.into_panic().downcast::<DeadlockReport>() {
            Ok(report) => Err(*report),
            Err(payload) => std::panic::resume_unwind(payload),
        },
    }
}

/// Run `f` on a heddle thread named `name` and wait for it.
fn on_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DeadlockReport> {
    outcome(Thread::new(f).name(name).start())
}

/// `'thread' took KIND#1 (created C) at T1 and then, still holding it, KIND#1 (created C2)
/// at T2` (each lock is the first, #1, of its creation site).
fn chain(thread: &str, first: (u32, u32), then: (u32, u32)) -> String {
    format!(
        "'{thread}' took Lock#1 (created {}) at {} and then, still holding it, Lock#1 (created {}) at {}",
        at(first.0),
        at(first.1),
        at(then.0),
        at(then.1),
    )
}

fn assert_has_line(report: &DeadlockReport, prefix: &str, want: &str) {
    let want = format!("  {prefix}: {want}");
    assert!(
        report.text().lines().any(|l| l == want),
        "missing line\n{want}\nin report:\n{report}"
    );
}

/// A then B in one thread; later, B then A in another, never overlapping, so nothing
/// blocks: reported at the second thread's attempt to take A, with both chains.
#[test]
fn inversion_is_reported_before_any_deadlock_with_both_chains() {
    order_mode();
    let (a, a_created) = (Arc::new(Lock::new(())), line!());
    let (b, b_created) = (Arc::new(Lock::new(())), line!());
    let lines = {
        let (a, b) = (a.clone(), b.clone());
        on_thread("order-1", move || {
            let (_a, a_at) = (a.lock(), line!());
            let (_b, b_at) = (b.lock(), line!());
            (a_at, b_at)
        })
        .expect("one order alone is fine")
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let report = {
        let (a, b) = (a.clone(), b.clone());
        on_thread("order-2", move || {
            let (_b, b_at) = (b.lock(), line!());
            let a_at = line!() + 2;
            tx.send((b_at, a_at)).unwrap();
            let _a = a.lock();
        })
        .expect_err("B then A after A then B is an inversion")
    };
    let (b_at, then_a) = rx.recv().unwrap();
    assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
    assert!(
        report
            .text()
            .starts_with("heddle: POTENTIAL DEADLOCK (lock order)"),
        "{report}"
    );
    assert_has_line(
        &report,
        "now",
        &chain("order-2", (b_created, b_at), (a_created, then_a)),
    );
    assert_has_line(
        &report,
        "earlier",
        &chain("order-1", (a_created, lines.0), (b_created, lines.1)),
    );
    // The reporting thread held nothing new: both locks are free.
    assert!(!a.is_locked() && !b.is_locked());
}

/// A cycle through three classes (A→B, B→C, then C→A) is reported with the two earlier
/// edges as the "earlier" chain.
#[test]
fn three_class_inversion_is_reported() {
    order_mode();
    let (a, a_created) = (Arc::new(Lock::new(())), line!());
    let (b, b_created) = (Arc::new(Lock::new(())), line!());
    let (c, c_created) = (Arc::new(Lock::new(())), line!());
    let nest = |name: &'static str, first: &Arc<Lock<()>>, second: &Arc<Lock<()>>| {
        let (first, second) = (first.clone(), second.clone());
        on_thread(name, move || {
            let _f = first.lock();
            let _s = second.lock();
        })
    };
    nest("ring-ab", &a, &b).expect("no cycle yet");
    nest("ring-bc", &b, &c).expect("no cycle yet");
    let report = nest("ring-ca", &c, &a).expect_err("C then A closes A→B→C→A");
    assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
    let text = report.text();
    let earlier: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with("  earlier: "))
        .collect();
    assert_eq!(earlier.len(), 2, "{report}");
    assert!(earlier[0].contains("'ring-ab'") && earlier[1].contains("'ring-bc'"));
    for created in [a_created, b_created, c_created] {
        assert!(
            text.contains(&format!("(created {})", at(created))),
            "{report}"
        );
    }
}

/// Locks released before the next is taken form no edge: take A, release, take B; then,
/// elsewhere, B then A is no inversion. (That B→A did become an edge is checked at the
/// end: A then B is now reported.)
#[test]
fn released_locks_form_no_edges() {
    order_mode();
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    {
        let (a, b) = (a.clone(), b.clone());
        on_thread("released-1", move || {
            drop(a.lock());
            drop(b.lock());
            // Also through a guard that goes out of scope.
            {
                let _a = a.lock();
            }
            let _b = b.lock();
        })
        .expect("nothing nested");
    }
    {
        let (a, b) = (a.clone(), b.clone());
        on_thread("released-2", move || {
            let _b = b.lock();
            let _a = a.lock();
        })
        .expect("A was never held while B was taken: no inversion");
    }
    let report = {
        let (a, b) = (a.clone(), b.clone());
        on_thread("released-3", move || {
            let _a = a.lock();
            let _b = b.lock();
        })
        .expect_err("B→A is an edge now, so A then B is an inversion")
    };
    assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
    assert!(report.text().contains("'released-2'"), "{report}");
}

/// Two locks created at one site (one class), taken in both orders: reported per pair.
#[test]
fn same_class_pair_taken_in_both_orders_is_reported() {
    order_mode();
    let locks: Arc<Vec<Lock<u32>>> = Arc::new((0..2).map(Lock::new).collect());
    {
        let locks = locks.clone();
        on_thread("pair-1", move || {
            let _x = locks[0].lock();
            let _y = locks[1].lock();
        })
        .expect("one order");
    }
    // The same order again, and the same pair from another thread: still fine.
    {
        let locks = locks.clone();
        on_thread("pair-2", move || {
            let _x = locks[0].lock();
            let _y = locks[1].lock();
        })
        .expect("same order");
    }
    let report = {
        let locks = locks.clone();
        on_thread("pair-3", move || {
            let _y = locks[1].lock();
            let _x = locks[0].lock();
        })
        .expect_err("the other order")
    };
    assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
    let text = report.text();
    assert!(text.contains("two locks of one class"), "{report}");
    assert!(text.contains("  now: 'pair-3' took Lock"), "{report}");
    assert!(text.contains("  earlier: 'pair-1' took Lock"), "{report}");
    // Reported once: the same inversion again is not reported a second time.
    {
        let locks = locks.clone();
        on_thread("pair-4", move || {
            let _y = locks[1].lock();
            let _x = locks[0].lock();
        })
        .expect("already reported");
    }
}

#[derive(Debug)]
struct Account {
    id: usize,
    balance: i64,
}

/// The bank-transfer fix: accounts created at one site, every transfer locks the lower
/// id first; many threads. No report in lock-order mode (and money is conserved).
#[test]
fn lock_ordering_by_id_is_not_reported() {
    order_mode();
    const ACCOUNTS: usize = 6;
    let accounts: Arc<Vec<Lock<Account>>> = Arc::new(
        (0..ACCOUNTS)
            .map(|id| Lock::new(Account { id, balance: 1000 }))
            .collect(),
    );
    let handles: Vec<_> = (0..6)
        .map(|t| {
            let accounts = accounts.clone();
            Thread::new(move || {
                let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ (t as u64 + 1);
                for _ in 0..3000 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let from = (seed % ACCOUNTS as u64) as usize;
                    let to = (from + 1 + (seed >> 32) as usize % (ACCOUNTS - 1)) % ACCOUNTS;
                    let (lo, hi) = (from.min(to), from.max(to));
                    let mut first = accounts[lo].lock();
                    let mut second = accounts[hi].lock();
                    let (src, dst) = if first.id == from {
                        (&mut first, &mut second)
                    } else {
                        (&mut second, &mut first)
                    };
                    src.balance -= 3;
                    dst.balance += 3;
                }
            })
            .name(format!("order-teller-{t}"))
            .start()
        })
        .collect();
    for h in handles {
        outcome(h).expect("ordered by id: no inversion");
    }
    let total: i64 = accounts.iter().map(|a| a.lock().balance).sum();
    assert_eq!(total, 1000 * ACCOUNTS as i64);
}

/// Re-entering an `RLock` while holding a lock taken inside it is not "the inner lock,
/// then the RLock": re-entry does not acquire anything.
#[test]
fn rlock_reentry_is_not_an_inversion() {
    order_mode();
    let r = Arc::new(RLock::new(()));
    let l = Arc::new(Lock::new(()));
    on_thread("reenter", move || {
        let _r = r.lock();
        let _l = l.lock();
        let _again = r.lock();
        let _deeper = r.try_lock().expect("re-entry never fails");
    })
    .expect("R then L, then R again while holding both: one order");
}

/// `try_lock` cannot deadlock, so taking B with `try_lock` while holding A adds no A→B
/// edge: B then A elsewhere is no inversion.
#[test]
fn try_lock_adds_no_edge() {
    order_mode();
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    {
        let (a, b) = (a.clone(), b.clone());
        on_thread("try-1", move || {
            let _a = a.lock();
            let _b = b.try_lock().expect("free");
        })
        .expect("nested try_lock");
    }
    let (a2, b2) = (a.clone(), b.clone());
    on_thread("try-2", move || {
        let _b = b2.lock();
        let _a = a2.lock();
    })
    .expect("A→B was never an edge");
}

/// Locks that only ever nest one way, taken by many threads at once, are never reported
/// (the graph is shared; each thread's edges are the same).
#[test]
fn consistent_nesting_on_many_threads_is_not_reported() {
    order_mode();
    let outer = Arc::new(Lock::new(0u64));
    let inner = Arc::new(Lock::new(0u64));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (outer, inner) = (outer.clone(), inner.clone());
            Thread::new(move || {
                for _ in 0..2000 {
                    let mut o = outer.lock();
                    let mut i = inner.lock();
                    *o += 1;
                    *i += 1;
                }
            })
            .name(format!("nest-{t}"))
            .start()
        })
        .collect();
    for h in handles {
        outcome(h).expect("one order");
    }
    assert_eq!(*outer.lock(), 8000);
}

#[test]
fn rwlock_inversion_is_reported() {
    use heddle::sync::RwLock;
    order_mode();
    let a = Arc::new(RwLock::new(()));
    let b = Arc::new(Lock::new(()));
    {
        let (a, b) = (a.clone(), b.clone());
        on_thread("rw-order-1", move || {
            let _a = a.read();
            let _b = b.lock();
        })
        .expect("one order");
    }
    let report = on_thread("rw-order-2", move || {
        let _b = b.lock();
        let _a = a.write();
    })
    .expect_err("the other order");
    assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
}

/// A lock made at the one site of a helper (one class for all of them).
fn node(v: u32) -> Lock<u32> {
    Lock::new(v)
}

/// Same-class pairs are remembered by address. When a lock is dropped and a new one of
/// the same class later lives at the same address (a freed node reused, a slot
/// refilled), the pair must be forgotten: the new locks are different locks, and taking
/// them "the other way" is no inversion. Hand-over-hand traversal of a list whose nodes
/// are freed and reallocated does exactly this.
#[test]
fn a_dropped_locks_pairs_are_forgotten() {
    order_mode();
    on_thread("slots", || {
        let mut slots: [Option<Lock<u32>>; 2] = [Some(node(0)), Some(node(1))];
        {
            let _first = slots[0].as_ref().unwrap().lock();
            let _second = slots[1].as_ref().unwrap().lock();
        }
        // New locks in the same two places; the list now starts in slot 1.
        slots[0] = Some(node(11));
        slots[1] = Some(node(10));
        let _first = slots[1].as_ref().unwrap().lock();
        let _second = slots[0].as_ref().unwrap().lock();
    })
    .expect("four different locks, each pair taken in one order");
}

/// Forgetting is per address: dropping some other lock of the class does not make heddle
/// forget the pair of two locks still alive, whose inversion is still reported.
#[test]
fn a_dropped_lock_forgets_only_its_own_pairs() {
    order_mode();
    let report = on_thread("live-pair", || {
        let (x, y) = (node(1), node(2));
        {
            let _x = x.lock();
            let _y = y.lock();
        }
        {
            let other = node(3);
            let _x = x.lock();
            let _o = other.lock();
        } // `other` dropped: its pair with x goes, x's pair with y stays
        let _y = y.lock();
        let _x = x.lock();
    })
    .expect_err("x and y were taken in both orders");
    assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
}

/// An acquisition that fails (a `try_lock` on a held lock, a `lock_timeout` that runs
/// out) leaves no hold behind: taking B and then C afterwards is no edge from A, so
/// taking A after C later (C → A) is no inversion.
#[test]
fn a_failed_acquisition_holds_nothing() {
    order_mode();
    let a = Arc::new(Lock::new(()));
    let (b, c) = (Lock::new(()), Lock::new(()));
    let held = {
        let a = a.clone();
        let (taken_tx, taken_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let holder = Thread::new(move || {
            let _a = a.lock();
            taken_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        })
        .name("holder")
        .start();
        taken_rx.recv().unwrap();
        (holder, done_tx)
    };
    let a2 = a.clone();
    let result = on_thread("fails-then-nests", move || {
        assert!(a2.try_lock().is_none());
        assert!(a2
            .lock_timeout(std::time::Duration::from_millis(1))
            .is_none());
        {
            let _b = b.lock();
            let _c = c.lock();
        }
        (b, c)
    });
    let (holder, done_tx) = held;
    done_tx.send(()).unwrap();
    outcome(holder).expect("the holder just holds A");
    let (_b, c) = result.expect("a lock not taken forms no edge");
    on_thread("c-then-a", move || {
        let _c = c.lock();
        let _a = a.lock();
    })
    .expect("A was never held while taking B or C");
}

/// Under the checker every checked thread runs on one OS thread. Their holds must be
/// kept apart: t1 only ever holds A and t2 takes B then A, which is no inversion, in
/// every schedule (including those where t2 takes B while t1 holds A).
#[test]
fn checked_threads_holds_are_kept_apart() {
    use heddle::check::Checker;
    let explored = Checker::dfs().explore(|| {
        let a = Arc::new(Lock::new(()));
        let b = Arc::new(Lock::new(()));
        let t1 = {
            let a = a.clone();
            Thread::new(move || drop(a.lock())).name("t1").start()
        };
        let t2 = Thread::new(move || {
            let _b = b.lock();
            let _a = a.lock();
        })
        .name("t2")
        .start();
        t1.join().unwrap();
        t2.join().unwrap();
    });
    if let Err(report) = explored {
        panic!("false lock-order report under the checker:\n{report}");
    }
}

/// Under the checker a thread waiting for a lock has its pending hold in the shared
/// per-OS-thread list next to the holder's. The holder's release must remove its own
/// entry, not the waiter's: otherwise the holder keeps a stale hold of L, and taking M
/// then L (the only order in this program) looks like L → M → L.
#[test]
fn a_release_removes_the_releasers_hold_not_a_waiters() {
    use heddle::check::Checker;
    let explored = Checker::dfs().explore(|| {
        let l = make_lock();
        let m = make_lock();
        let waiter = {
            let l = l.clone();
            Thread::new(move || drop(l.lock())).name("waiter").start()
        };
        drop(l.lock());
        {
            let _m = m.lock();
            let _l = l.lock();
        }
        waiter.join().unwrap();
    });
    if let Err(report) = explored {
        panic!("false lock-order report under the checker:\n{report}");
    }
}

/// The same for two checked readers sharing one `RwLock`: each release removes the
/// releasing reader's hold.
#[test]
fn a_read_release_removes_the_readers_own_hold() {
    use heddle::check::Checker;
    use heddle::sync::RwLock;
    let explored = Checker::dfs().explore(|| {
        let a = Arc::new(RwLock::new(()));
        let m = make_lock();
        let other = {
            let a = a.clone();
            Thread::new(move || drop(a.read())).name("other").start()
        };
        drop(a.read());
        {
            let _m = m.lock();
            let _a = a.read();
        }
        other.join().unwrap();
    });
    if let Err(report) = explored {
        panic!("false lock-order report under the checker:\n{report}");
    }
}

fn make_lock() -> Arc<Lock<()>> {
    Arc::new(Lock::new(()))
}

/// A failed execution leaves its unfinished checked threads' stacks leaked (not
/// unwound), so their holds are never released; checked thread ids are reused by the
/// next execution. A stale hold must not make edges for a later thread with the same id.
#[test]
fn holds_of_a_failed_execution_are_forgotten() {
    use heddle::check::Checker;
    use heddle::sync::Event;
    // Execution that fails while "holder" (thread 1) holds a lock of class A.
    let failed = Checker::dfs().explore(|| {
        let a = make_lock();
        let (locked, never) = (Event::new(), Event::new());
        let (l, n) = (locked.clone(), never.clone());
        let _holder = Thread::new(move || {
            let _a = a.lock();
            l.set();
            n.wait();
        })
        .name("holder")
        .start();
        locked.wait();
        panic!("fail with the holder blocked");
    });
    assert!(failed.is_err());
    // Thread 1 of a new exploration takes a lock of class B (no A is held in this
    // program), and thread 2 takes B then A: one order only.
    let explored = Checker::dfs().explore(|| {
        let a = make_lock();
        let b = Arc::new(Lock::new(()));
        let first = {
            let b = b.clone();
            Thread::new(move || drop(b.lock())).name("first").start()
        };
        first.join().unwrap();
        let second = Thread::new(move || {
            let _b = b.lock();
            let _a = a.lock();
        })
        .start();
        second.join().unwrap();
    });
    if let Err(report) = explored {
        panic!("false lock-order report from a stale hold:\n{report}");
    }
}

// ---------------------------------------------------------------------------------------
// Issue 12: gate locks, rings among locks of one site.

/// GoodLock's gate lock: both paths take G first, so A→B and B→A can never run at the
/// same time. Not a deadlock: not reported (it was, before gates were remembered).
#[test]
fn an_inversion_under_a_common_gate_lock_is_not_reported() {
    order_mode();
    let gate = Arc::new(Lock::new(()));
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    let nest = |name: &'static str, first: &Arc<Lock<()>>, second: &Arc<Lock<()>>| {
        let (g, first, second) = (gate.clone(), first.clone(), second.clone());
        on_thread(name, move || {
            let _g = g.lock();
            let _f = first.lock();
            let _s = second.lock();
        })
    };
    nest("gated-ab", &a, &b).expect("one order");
    nest("gated-ba", &b, &a).expect("the gate G makes B then A safe");
    // Once B → A is also taken without the gate, the inversion is real.
    let report = {
        let (a, b) = (a.clone(), b.clone());
        on_thread("ungated-ba", move || {
            let _b = b.lock();
            let _a = a.lock();
        })
        .expect_err("B then A without the gate")
    };
    assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
}

/// The same under the checker, where lock-order mode is on in this binary: every
/// schedule of the gated program passes (the exploration cannot deadlock it either).
#[test]
fn a_gated_inversion_passes_the_checker_in_lock_order_mode() {
    order_mode();
    let coverage = heddle::check::Checker::dfs()
        .explore(|| {
            let gate = Arc::new(Lock::new(()));
            let a = Arc::new(Lock::new(()));
            let b = Arc::new(Lock::new(()));
            let (g2, a2, b2) = (gate.clone(), a.clone(), b.clone());
            let t = Thread::new(move || {
                let _g = g2.lock();
                let _a = a2.lock();
                let _b = b2.lock();
            })
            .start();
            {
                let _g = gate.lock();
                let _b = b.lock();
                let _a = a.lock();
            }
            t.join().unwrap();
        })
        .unwrap_or_else(|r| panic!("false report on a gated inversion:\n{r}"));
    assert!(coverage.is_exhaustive());
}

/// A ring of three locks made at one site (philosophers' forks), each thread taking its
/// left then its right fork, one thread after another: reported, naming each fork.
#[test]
fn a_ring_of_three_same_site_locks_is_reported() {
    order_mode();
    let forks: Arc<Vec<Lock<()>>> = Arc::new((0..3).map(|_| Lock::new(())).collect());
    for i in 0..2 {
        let forks = forks.clone();
        on_thread("philosopher", move || {
            let _l = forks[i].lock();
            let _r = forks[(i + 1) % 3].lock();
        })
        .expect("no ring yet");
    }
    let report = {
        let forks = forks.clone();
        on_thread("philosopher-3", move || {
            let _l = forks[2].lock();
            let _r = forks[0].lock();
        })
        .expect_err("the third philosopher closes the ring")
    };
    assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
    let text = report.text();
    assert!(text.contains("3 locks of one class"), "{report}");
    for n in 1..=3 {
        assert!(
            text.contains(&format!("Lock#{n} (created")),
            "no Lock#{n}:\n{report}"
        );
    }
}

/// A ring of four in one order only (a chain 0→1→2→3, never back): not reported.
#[test]
fn a_chain_of_same_site_locks_is_not_reported() {
    order_mode();
    let locks: Arc<Vec<Lock<()>>> = Arc::new((0..4).map(|_| Lock::new(())).collect());
    for i in 0..3 {
        let locks = locks.clone();
        on_thread("chain", move || {
            let _l = locks[i].lock();
            let _r = locks[i + 1].lock();
        })
        .expect("a chain is no ring");
    }
    let locks = locks.clone();
    on_thread("chain-long", move || {
        let _a = locks[0].lock();
        let _d = locks[3].lock();
    })
    .expect("0 → 3 agrees with the chain");
}

// ---------------------------------------------------------------------------------------
// Issue 12.1: a binary semaphore's permit is a gate like a common lock.

/// Both orders of A and B taken while holding the one permit of a `Semaphore::new(1)`
/// (or a `BoundedSemaphore::new(1)`): the permit lets one path in at a time, so it is
/// not reported; the same inversion without the permit is.
#[test]
fn an_inversion_under_a_binary_semaphore_is_not_reported() {
    order_mode();
    // Locks of new classes (sites) per round: a class pair is reported once.
    let rounds = [
        (Arc::new(Lock::new(())), Arc::new(Lock::new(()))),
        (Arc::new(Lock::new(())), Arc::new(Lock::new(()))),
    ];
    for (bounded, (a, b)) in [false, true].into_iter().zip(rounds) {
        let sem = Arc::new(Semaphore::new(1));
        let bsem = Arc::new(BoundedSemaphore::new(1));
        let nest = |name: &'static str, first: &Arc<Lock<()>>, second: &Arc<Lock<()>>| {
            let (sem, bsem) = (sem.clone(), bsem.clone());
            let (first, second) = (first.clone(), second.clone());
            on_thread(name, move || {
                let _p = (!bounded).then(|| sem.acquire());
                let _q = bounded.then(|| bsem.acquire());
                let _f = first.lock();
                let _s = second.lock();
            })
        };
        nest("sem-ab", &a, &b).expect("one order");
        nest("sem-ba", &b, &a).unwrap_or_else(|r| panic!("the permit is a gate:\n{r}"));
        let report = {
            let (a, b) = (a.clone(), b.clone());
            on_thread("no-permit-ba", move || {
                let _b = b.lock();
                let _a = a.lock();
            })
            .expect_err("B then A without the permit")
        };
        assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
    }
}

/// A counting semaphore (two permits) lets both paths in at once: no gate, reported.
#[test]
fn an_inversion_under_a_counting_semaphore_is_reported() {
    order_mode();
    let sem = Arc::new(Semaphore::new(2));
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    let nest = |name: &'static str, first: &Arc<Lock<()>>, second: &Arc<Lock<()>>| {
        let (sem, first, second) = (sem.clone(), first.clone(), second.clone());
        on_thread(name, move || {
            let _p = sem.acquire();
            let _f = first.lock();
            let _s = second.lock();
        })
    };
    nest("two-ab", &a, &b).expect("one order");
    let report = nest("two-ba", &b, &a).expect_err("two permits gate nothing");
    assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
}

/// A binary semaphore whose permit is given back by another thread than its taker is a
/// signal, not a mutex: the taker may still be inside while another path runs. Once
/// that is seen it is no gate, also for the edge recorded under it before.
#[test]
fn a_permit_released_by_another_thread_is_not_a_gate() {
    order_mode();
    let sem = Arc::new(Semaphore::new(1));
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    {
        let (sem, a, b) = (sem.clone(), a.clone(), b.clone());
        on_thread("keeps-permit-ab", move || {
            std::mem::forget(sem.acquire());
            let _a = a.lock();
            let _b = b.lock();
        })
        .expect("one order");
    }
    {
        let sem = sem.clone();
        on_thread("releases-it", move || sem.release()).expect("a release");
    }
    let report = {
        let (sem, a, b) = (sem.clone(), a.clone(), b.clone());
        on_thread("permit-ba", move || {
            let _p = sem.acquire();
            let _b = b.lock();
            let _a = a.lock();
        })
        .expect_err("the semaphore was handed over: no gate")
    };
    assert_eq!(report.kind(), DeadlockKind::PotentialLockOrder);
}

/// Under the checker in lock-order mode: the inversion gated by a binary semaphore
/// passes every schedule; without the permit, lock-order mode reports it.
#[test]
fn a_semaphore_gated_inversion_passes_the_checker_in_lock_order_mode() {
    order_mode();
    let program = |gated: bool| {
        move || {
            let sem = Arc::new(Semaphore::new(1));
            let a = Arc::new(Lock::new(()));
            let b = Arc::new(Lock::new(()));
            let (s2, a2, b2) = (sem.clone(), a.clone(), b.clone());
            let t = Thread::new(move || {
                let _p = gated.then(|| s2.acquire());
                let _a = a2.lock();
                let _b = b2.lock();
            })
            .start();
            {
                let _p = gated.then(|| sem.acquire());
                let _b = b.lock();
                let _a = a.lock();
            }
            t.join().unwrap();
        }
    };
    let coverage = heddle::check::Checker::dfs()
        .explore(program(true))
        .unwrap_or_else(|r| panic!("false report on a semaphore-gated inversion:\n{r}"));
    assert!(coverage.is_exhaustive());
    let report = heddle::check::Checker::dfs()
        .explore(program(false))
        .expect_err("the ungated inversion is reported");
    assert!(report.to_string().contains("lock order"), "{report}");
}

/// Issue 12.6: a report carries the user's call that found it (here the acquisition
/// that inverts the order), which an uncaught report names as where it panicked.
#[test]
fn a_report_names_the_acquisition_that_found_it() {
    order_mode();
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let (report, line) = on_thread("inverts", move || {
        let _b = b.lock();
        let line = line!() + 1;
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(a.lock())));
        (caught, line)
    })
    .map(|(caught, line)| {
        let payload = caught.expect_err("the inversion is reported");
        (
            *payload.downcast::<DeadlockReport>().expect("a report"),
            line,
        )
    })
    .expect("caught inside the thread");
    let at = report.location().expect("a location");
    assert_eq!((at.file(), at.line()), (file!(), line), "{report}");
}
