//! Always-on lock-cycle detection (`heddle::deadlock`, issue 4): a wait-for cycle among
//! `Lock`s and `RLock`s is reported the moment it closes, by the thread that closes it,
//! naming the threads, the locks (by creation site), where each lock was taken and where
//! each thread waits. What must *not* be reported: re-entry into an `RLock`, a timed
//! wait (it will end on its own), and locks always taken in one order.
//!
//! Nothing here sleeps to synchronise: the threads of a cycle meet at a std `Barrier`
//! holding their first lock, and whichever registers its wait second closes the cycle
//! (exactly one does). Where a test needs a thread to be asleep in heddle first, it
//! observes that through `/proc` (`common::wait_parked`).
//!
//! The action on a report and lock-order mode are per process, so every test holds
//! [`serial`] (one test at a time in this binary), sets lock-order mode off, and leaves
//! the action at the default (`Panic`) when it is done. Lock-order mode has its own
//! binary (`deadlock_order.rs`); all-asleep detection needs a process of its own per
//! scenario (`deadlock_asleep.rs`).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::Duration;

use heddle::deadlock::{self, Action, DeadlockKind, DeadlockReport};
use heddle::sync::{Lock, RLock};
use heddle::thread::{JoinHandle, Thread};

/// This file as report locations print it (`heddle/tests/deadlock.rs`).
const FILE: &str = "heddle/tests/deadlock.rs";

/// One test at a time (the action and lock-order mode are process-wide); resets both.
fn serial() -> Settings {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    deadlock::enable_lock_order(false);
    deadlock::set_action(Action::Panic);
    Settings { _guard: guard }
}

/// Restores the default action when a test ends (also when it fails).
struct Settings {
    _guard: MutexGuard<'static, ()>,
}

impl Drop for Settings {
    fn drop(&mut self) {
        deadlock::set_action(Action::Panic);
    }
}

/// `file:line` of a line in this file, as reports print it.
fn at(line: u32) -> String {
    format!("{FILE}:{line}")
}

/// The result of a thread that may have closed a cycle: `Ok` if it finished, the report
/// if it panicked with one (any other panic fails the test).
fn outcome<T>(handle: JoinHandle<T>) -> Result<T, DeadlockReport> {
    match handle.join() {
        Ok(v) => Ok(v),
        Err(e) => match e.into_panic().downcast::<DeadlockReport>() {
            Ok(report) => Err(*report),
            Err(payload) => std::panic::resume_unwind(payload),
        },
    }
}

/// Exactly one of the threads reported; returns that report (the others finished).
fn exactly_one_report<T>(handles: Vec<JoinHandle<T>>) -> DeadlockReport {
    let outcomes: Vec<_> = handles.into_iter().map(outcome).collect();
    let mut reports: Vec<DeadlockReport> = outcomes.into_iter().filter_map(Result::err).collect();
    assert_eq!(
        reports.len(),
        1,
        "expected exactly one thread to close the cycle, got {} reports: {reports:#?}",
        reports.len()
    );
    reports.pop().unwrap()
}

/// The report's line about thread `name` (`  'name' (ident N) waits for ...`).
fn line_of<'r>(report: &'r DeadlockReport, name: &str) -> &'r str {
    let prefix = format!("  '{name}' (ident ");
    report
        .text()
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for thread '{name}' in the report:\n{report}"))
}

/// Check one thread's line of a cycle report: the lock it waits for (by creation line),
/// where it waits, who holds that lock and where the holder took it.
fn assert_waits(
    report: &DeadlockReport,
    thread: &str,
    kind: &str,
    created: u32,
    waits_at: u32,
    holder: &str,
    taken_at: u32,
) {
    // Instance numbers (`Lock#2 (created …)`) are checked elsewhere; compare without.
    let line = without_instance_numbers(line_of(report, thread));
    let want = format!(
        "waits for {kind} (created {}) at {}, held by '{holder}' (taken at {})",
        at(created),
        at(waits_at),
        at(taken_at)
    );
    assert!(
        line.contains(&want),
        "thread '{thread}':\n  want …{want}\n  got  {line}\nreport:\n{report}"
    );
}

/// `Lock#2 (created x)` → `Lock (created x)`.
fn without_instance_numbers(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find('#') {
        out.push_str(&rest[..i]);
        let digits = rest[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        rest = &rest[i + 1 + digits..];
        if digits == 0 {
            out.push('#');
        }
    }
    out.push_str(rest);
    out
}

/// Lines a thread reports to the test before it blocks: (where it took its first lock,
/// where it will wait for the second).
type Lines = mpsc::Sender<(&'static str, u32, u32)>;

/// Start a thread named `name` that takes `first`, meets the others at `meet`, then
/// takes `second`; it reports the two source lines first.
fn take_two(
    name: &'static str,
    first: Arc<Lock<()>>,
    second: Arc<Lock<()>>,
    meet: Arc<Barrier>,
    lines: Lines,
) -> JoinHandle<()> {
    Thread::new(move || {
        let taken = line!() + 1;
        let _first = first.lock();
        lines.send((name, taken, line!() + 2)).unwrap();
        meet.wait();
        let _second = second.lock();
    })
    .name(name)
    .start()
}

/// (taken line, wait line) of each thread, in the order of `names`.
fn collect_lines(rx: &mpsc::Receiver<(&'static str, u32, u32)>, names: &[&str]) -> Vec<(u32, u32)> {
    let mut got: Vec<(&str, u32, u32)> = (0..names.len()).map(|_| rx.recv().unwrap()).collect();
    got.sort_by_key(|(n, _, _)| names.iter().position(|m| m == n).unwrap());
    got.into_iter().map(|(_, t, w)| (t, w)).collect()
}

#[test]
fn ab_ba_cycle_is_reported_naming_threads_locks_and_sites() {
    let _s = serial();
    let (a, a_created) = (Arc::new(Lock::new(())), line!());
    let (b, b_created) = (Arc::new(Lock::new(())), line!());
    let meet = Arc::new(Barrier::new(2));
    let (tx, rx) = mpsc::channel();
    let t1 = take_two("ab-1", a.clone(), b.clone(), meet.clone(), tx.clone());
    let t2 = take_two("ab-2", b.clone(), a.clone(), meet, tx);
    let lines = collect_lines(&rx, &["ab-1", "ab-2"]);
    // The closer panics with the report; its guard on its first lock unwinds, so the
    // other thread gets both locks and finishes.
    let report = exactly_one_report(vec![t1, t2]);
    assert_eq!(report.kind(), DeadlockKind::LockCycle);
    assert!(
        report.text().starts_with("heddle: DEADLOCK: 2 threads"),
        "{report}"
    );
    // Both threads, both locks (creation lines), the four source locations: where each
    // lock was taken and where each thread waits.
    let (t1_taken, t1_waits) = lines[0];
    let (t2_taken, t2_waits) = lines[1];
    assert_waits(
        &report, "ab-1", "Lock", b_created, t1_waits, "ab-2", t2_taken,
    );
    assert_waits(
        &report, "ab-2", "Lock", a_created, t2_waits, "ab-1", t1_taken,
    );
    assert_eq!(report.to_string(), report.text());
    // Nothing is left held or registered: the locks work normally afterwards.
    drop(a.try_lock().expect("a is free"));
    drop(b.try_lock().expect("b is free"));
}

#[test]
fn three_lock_ring_is_reported() {
    let _s = serial();
    let (a, a_created) = (Arc::new(Lock::new(())), line!());
    let (b, b_created) = (Arc::new(Lock::new(())), line!());
    let (c, c_created) = (Arc::new(Lock::new(())), line!());
    let meet = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    let t1 = take_two("ring-1", a.clone(), b.clone(), meet.clone(), tx.clone());
    let t2 = take_two("ring-2", b.clone(), c.clone(), meet.clone(), tx.clone());
    let t3 = take_two("ring-3", c.clone(), a.clone(), meet, tx);
    let lines = collect_lines(&rx, &["ring-1", "ring-2", "ring-3"]);
    let report = exactly_one_report(vec![t1, t2, t3]);
    assert_eq!(report.kind(), DeadlockKind::LockCycle);
    assert!(
        report.text().starts_with("heddle: DEADLOCK: 3 threads"),
        "{report}"
    );
    assert_waits(
        &report, "ring-1", "Lock", b_created, lines[0].1, "ring-2", lines[1].0,
    );
    assert_waits(
        &report, "ring-2", "Lock", c_created, lines[1].1, "ring-3", lines[2].0,
    );
    assert_waits(
        &report, "ring-3", "Lock", a_created, lines[2].1, "ring-1", lines[0].0,
    );
}

#[test]
fn taking_a_held_lock_again_is_reported_in_the_calling_thread() {
    let _s = serial();
    let (lock, created) = (Lock::new(0), line!());
    let (_held, taken) = (lock.lock(), line!());
    let waits = line!() + 1;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lock.lock()));
    let report = *caught
        .expect_err("re-taking a held Lock must be reported, not block")
        .downcast::<DeadlockReport>()
        .expect("the panic payload is the report");
    assert_eq!(report.kind(), DeadlockKind::LockCycle);
    assert!(
        report
            .text()
            .starts_with("heddle: DEADLOCK: a thread waits for a lock it holds itself"),
        "{report}"
    );
    let me = heddle::thread::current().name().to_owned();
    assert_waits(&report, &me, "Lock", created, waits, &me, taken);
}

#[test]
fn rlock_ab_ba_cycle_is_reported() {
    let _s = serial();
    let (a, a_created) = (Arc::new(RLock::new(())), line!());
    let (b, b_created) = (Arc::new(RLock::new(())), line!());
    let meet = Arc::new(Barrier::new(2));
    let (tx, rx) = mpsc::channel();
    let spawn = |name: &'static str, first: Arc<RLock<()>>, second: Arc<RLock<()>>| {
        let (meet, tx) = (meet.clone(), tx.clone());
        Thread::new(move || {
            let taken = line!() + 1;
            let _first = first.lock();
            // Re-entry on the way is fine and changes nothing.
            let _again = first.lock();
            tx.send((name, taken, line!() + 2)).unwrap();
            meet.wait();
            let _second = second.lock();
        })
        .name(name)
        .start()
    };
    let t1 = spawn("rab-1", a.clone(), b.clone());
    let t2 = spawn("rab-2", b.clone(), a.clone());
    let lines = collect_lines(&rx, &["rab-1", "rab-2"]);
    let report = exactly_one_report(vec![t1, t2]);
    assert_eq!(report.kind(), DeadlockKind::LockCycle);
    assert_waits(
        &report, "rab-1", "RLock", b_created, lines[0].1, "rab-2", lines[1].0,
    );
    assert_waits(
        &report, "rab-2", "RLock", a_created, lines[1].1, "rab-1", lines[0].0,
    );
}

/// Re-entering an `RLock` never blocks, so it is never a cycle, even while another
/// thread is asleep waiting for that `RLock`.
#[test]
fn rlock_reentry_is_not_reported() {
    let _s = serial();
    let r = Arc::new(RLock::new(()));
    let outer = r.lock();
    let (tid_tx, tid_rx) = mpsc::channel();
    let waiter = {
        let r = r.clone();
        Thread::new(move || {
            tid_tx.send(common::os_tid()).unwrap();
            let _g = r.lock();
        })
        .name("rlock-waiter")
        .start()
    };
    common::wait_parked(tid_rx.recv().unwrap());
    // The waiter is registered as waiting for `r`, held by us: re-entering must not
    // look like waiting for ourselves.
    {
        let _two = r.lock();
        let _three = r.lock();
        assert_eq!(r.depth(), 3);
        assert!(r.try_lock().is_some());
    }
    drop(outer);
    outcome(waiter).expect("no report");
}

/// A would-be cycle in which one wait has a timeout is no deadlock: the timed wait ends
/// on its own, its thread backs off, and the other goes on. Both orders: the timed
/// waiter registering first, and the untimed one.
#[test]
fn timed_wait_in_a_would_be_cycle_is_not_reported() {
    let _s = serial();
    for timed_first in [true, false] {
        let a = Arc::new(Lock::new(()));
        let b = Arc::new(Lock::new(()));
        let a_held = a.lock();
        let (tid_tx, tid_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        // Holds b, then waits for a (held by the test thread) with or without a timeout.
        let other = {
            let (a, b) = (a.clone(), b.clone());
            Thread::new(move || {
                let _b = b.lock();
                tid_tx.send(common::os_tid()).unwrap();
                go_rx.recv().unwrap();
                if timed_first {
                    a.lock_timeout(Duration::from_millis(20)).is_some()
                } else {
                    drop(a.lock());
                    true
                }
            })
            .name("would-be-cycle")
            .start()
        };
        let tid = tid_rx.recv().unwrap();
        go_tx.send(()).unwrap();
        common::wait_parked(tid);
        // The test thread, holding a, waits for b: untimed if the other's wait is timed,
        // and the other way round.
        if timed_first {
            drop(b.lock());
            assert!(
                !outcome(other).expect("no report"),
                "the timed wait timed out"
            );
        } else {
            assert!(
                b.lock_timeout(Duration::from_millis(20)).is_none(),
                "b is held until the other gets a"
            );
            drop(a_held);
            assert!(outcome(other).expect("no report"));
            continue;
        }
        drop(a_held);
    }
}

#[derive(Debug)]
struct Account {
    id: usize,
    balance: i64,
}

/// The bank-transfer fix from the lab: two accounts' locks come from one creation site,
/// and every transfer locks the lower id first. Many threads, many transfers, heavy
/// contention on few accounts: never a cycle, never a report, money conserved.
fn bank_transfers_ordered_by_id(threads: usize, transfers: usize) {
    const ACCOUNTS: usize = 6;
    let accounts: Arc<Vec<Lock<Account>>> = Arc::new(
        (0..ACCOUNTS)
            .map(|id| Lock::new(Account { id, balance: 1000 }))
            .collect(),
    );
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let accounts = accounts.clone();
            Thread::new(move || {
                let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ (t as u64 + 1);
                for _ in 0..transfers {
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
                    src.balance -= 7;
                    dst.balance += 7;
                }
            })
            .name(format!("teller-{t}"))
            .start()
        })
        .collect();
    for h in handles {
        outcome(h).expect("ordered transfers must never be reported");
    }
    let total: i64 = accounts.iter().map(|a| a.lock().balance).sum();
    assert_eq!(total, 1000 * ACCOUNTS as i64);
}

#[test]
fn lock_ordering_by_id_is_not_reported() {
    let _s = serial();
    bank_transfers_ordered_by_id(6, 4000);
}

/// With `Action::Callback` the callback gets the report in the thread that closed the
/// cycle, and that thread keeps waiting. Here the callback itself breaks the cycle (the
/// closer releases the `RLock` it holds, which it may, being its owner), so both
/// threads finish.
#[test]
fn callback_receives_the_report_and_the_thread_keeps_waiting() {
    let _s = serial();
    let got: Arc<Mutex<Vec<(String, DeadlockReport)>>> = Arc::default();
    // Which RLock the closer holds: it releases that one from inside the callback.
    let a: &'static RLock<()> = Box::leak(Box::new(RLock::new(())));
    let b: &'static RLock<()> = Box::leak(Box::new(RLock::new(())));
    {
        let got = got.clone();
        deadlock::set_action(Action::Callback(Arc::new(move |report| {
            let me = heddle::thread::current().name().to_owned();
            got.lock().unwrap().push((me.clone(), report.clone()));
            // The closer holds its first lock: a for "cb-1", b for "cb-2".
            let mine = if me == "cb-1" { a } else { b };
            mine.release().expect("the closer owns its first lock");
        })));
    }
    let meet = Arc::new(Barrier::new(2));
    let released = Arc::new(AtomicBool::new(false));
    let spawn = |name: &'static str, first: &'static RLock<()>, second: &'static RLock<()>| {
        let meet = meet.clone();
        let released = released.clone();
        Thread::new(move || {
            first.acquire();
            meet.wait();
            // The closer's callback releases `first` while this call is in progress,
            // then the call goes on waiting and returns holding `second`.
            let _second = second.lock();
            if first.is_owned_by_current_thread() {
                first.release().unwrap();
            } else {
                released.store(true, Ordering::SeqCst);
            }
        })
        .name(name)
        .start()
    };
    let t1 = spawn("cb-1", a, b);
    let t2 = spawn("cb-2", b, a);
    outcome(t1).expect("the callback does not unwind");
    outcome(t2).expect("the callback does not unwind");
    assert!(
        released.load(Ordering::SeqCst),
        "one thread's lock was released by the callback"
    );
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1, "one cycle, one report: {got:#?}");
    let (closer, report) = &got[0];
    assert_eq!(report.kind(), DeadlockKind::LockCycle);
    for name in ["cb-1", "cb-2"] {
        line_of(report, name);
    }
    assert!(report.text().contains(&format!("'{closer}'")));
    assert!(!a.is_locked() && !b.is_locked());
}

// ---------------------------------------------------------------------------------
// RwLock: writers are owners; read holds are published by blocked threads.

#[test]
fn rwlock_write_ab_ba_cycle_is_reported() {
    use heddle::sync::RwLock;
    let _s = serial();
    let (a, a_created) = (Arc::new(RwLock::new(())), line!());
    let (b, b_created) = (Arc::new(RwLock::new(())), line!());
    let meet = Arc::new(Barrier::new(2));
    let spawn = |name: &'static str, first: Arc<RwLock<()>>, second: Arc<RwLock<()>>| {
        let meet = meet.clone();
        Thread::new(move || {
            let _first = first.write();
            meet.wait();
            let _second = second.write();
        })
        .name(name)
        .start()
    };
    let t1 = spawn("rw-1", a.clone(), b.clone());
    let t2 = spawn("rw-2", b, a);
    let report = exactly_one_report(vec![t1, t2]);
    assert_eq!(report.kind(), DeadlockKind::LockCycle);
    let text = report.text();
    for needle in [
        "'rw-1'".to_owned(),
        "'rw-2'".to_owned(),
        at(a_created),
        at(b_created),
    ] {
        assert!(text.contains(&needle), "missing {needle}:\n{text}");
    }
}

/// A reader holding one `RwLock` and a writer holding another, each wanting the other:
/// the writer waits for a reader, which has no single owner word: the detector must
/// still follow it, and say where the read lock was taken.
#[test]
fn rwlock_reader_writer_cycle_is_reported() {
    use heddle::sync::RwLock;
    let _s = serial();
    let a = Arc::new(RwLock::new(()));
    let b = Arc::new(Lock::new(()));
    let meet = Arc::new(Barrier::new(2));
    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = {
        let (a, b, meet, lines_tx) = (a.clone(), b.clone(), meet.clone(), lines_tx.clone());
        Thread::new(move || {
            let (_r, read_at) = (a.read(), line!());
            lines_tx.send(("read", read_at)).unwrap();
            meet.wait();
            let _b = b.lock();
        })
        .name("rw-reader")
        .start()
    };
    let writer = {
        let (a, b) = (a.clone(), b.clone());
        Thread::new(move || {
            let _b = b.lock();
            meet.wait();
            let (_w, write_at) = (a.write(), line!());
            lines_tx.send(("write", write_at)).unwrap();
        })
        .name("rw-writer")
        .start()
    };
    let report = exactly_one_report(vec![reader, writer]);
    assert_eq!(report.kind(), DeadlockKind::LockCycle);
    let read_at = lines_rx.recv().unwrap();
    assert_eq!(read_at.0, "read");
    line_of(&report, "rw-reader");
    let writer_line = line_of(&report, "rw-writer");
    assert!(
        writer_line.contains("waits to write RwLock")
            && writer_line.contains("held for reading by 'rw-reader'")
            && writer_line.contains(&format!("(read at {})", at(read_at.1))),
        "{report}"
    );
}

/// A thread holding a read lock that asks for the write lock of the same `RwLock` waits
/// for itself (no upgrade): reported at once, by that thread.
#[test]
fn rwlock_upgrade_is_reported() {
    use heddle::sync::RwLock;
    let _s = serial();
    let a = Arc::new(RwLock::new(()));
    let t = {
        let a = a.clone();
        Thread::new(move || {
            let _r = a.read();
            let _w = a.write();
        })
        .name("upgrader")
        .start()
    };
    let report = outcome(t).expect_err("waits for its own read hold");
    assert_eq!(report.kind(), DeadlockKind::LockCycle);
    assert!(report.text().contains("holds for reading"), "{report}");
    line_of(&report, "upgrader");
    // The read guard was released as the reporting thread unwound, and the writer that
    // gave up left no "writer waiting" mark behind: readers get in too.
    // (Readers first: a write release would clear a stale mark.)
    assert!(a.try_read().is_some());
    assert!(a.try_write().is_some());
}

/// Under a policy that holds new readers back for a waiting writer, a thread reading a
/// lock it already reads waits for that writer, which waits for the first read: a
/// cycle through a *waiting* writer, reported with the policy named.
#[test]
fn rwlock_second_read_behind_a_waiting_writer_is_reported() {
    use heddle::sync::{RwLock, RwPolicy};
    let _s = serial();
    for policy in [RwPolicy::PhaseFair, RwPolicy::WriterPreferring] {
        let a = Arc::new(RwLock::with_policy((), policy));
        let (held_tx, held_rx) = mpsc::channel();
        let reader = {
            let a = a.clone();
            Thread::new(move || {
                let _first = a.read();
                held_tx.send(()).unwrap();
                // Wait until the writer waits (new readers are then held back).
                while let Some(probe) = a.try_read() {
                    drop(probe);
                    std::thread::sleep(Duration::from_micros(50));
                }
                let _second = a.read();
            })
            .name("re-reader")
            .start()
        };
        held_rx.recv().unwrap();
        let writer = {
            let a = a.clone();
            Thread::new(move || drop(a.write())).name("writer").start()
        };
        let report = exactly_one_report(vec![reader, writer]);
        assert_eq!(report.kind(), DeadlockKind::LockCycle, "{policy:?}");
        assert!(
            line_of(&report, "re-reader").contains("behind 'writer'"),
            "{policy:?}: {report}"
        );
        assert!(
            line_of(&report, "writer").contains("held for reading by 're-reader'"),
            "{policy:?}: {report}"
        );
    }
}

/// Read-read is no deadlock: two threads each reading one lock and then the other's
/// finish, with no report, under every policy (no writer waits).
#[test]
fn rwlock_read_read_crossing_is_not_reported() {
    use heddle::sync::{RwLock, RwPolicy};
    let _s = serial();
    for policy in [
        RwPolicy::ReaderPreferring,
        RwPolicy::WriterPreferring,
        RwPolicy::PhaseFair,
    ] {
        let a = Arc::new(RwLock::with_policy(1, policy));
        let b = Arc::new(RwLock::with_policy(2, policy));
        let meet = Arc::new(Barrier::new(2));
        let spawn = |first: Arc<RwLock<i32>>, second: Arc<RwLock<i32>>| {
            let meet = meet.clone();
            Thread::new(move || {
                let x = first.read();
                meet.wait();
                let y = second.read();
                *x + *y
            })
            .start()
        };
        let t1 = spawn(a.clone(), b.clone());
        let t2 = spawn(b, a);
        assert_eq!(outcome(t1).expect("no deadlock"), 3);
        assert_eq!(outcome(t2).expect("no deadlock"), 3);
    }
}

/// After a condition wait the lock is held again; a cycle report must still say where
/// in the user's code it was taken (the lock call or the wait), not a line inside heddle.
#[test]
fn a_lock_retaken_after_a_condition_wait_is_reported_at_a_user_line() {
    use heddle::sync::Condition;
    let _s = serial();
    let a = Arc::new(Lock::new(()));
    let b = Arc::new(Lock::new(()));
    let meet = Arc::new(Barrier::new(2));
    let waiter = {
        let (a, b, meet) = (a.clone(), b.clone(), meet.clone());
        Thread::new(move || {
            let cond = Condition::new();
            let mut g = a.lock();
            // Nobody notifies: the wait times out and re-takes `a`.
            assert!(cond
                .wait_timeout(&mut g, Duration::from_millis(1))
                .timed_out());
            meet.wait();
            let _b = b.lock();
        })
        .name("cond-1")
        .start()
    };
    let other = Thread::new(move || {
        let _b = b.lock();
        meet.wait();
        let _a = a.lock();
    })
    .name("cond-2")
    .start();
    let report = exactly_one_report(vec![waiter, other]);
    let line = line_of(&report, "cond-2");
    let taken = line.rsplit_once("(taken at ").expect("taken at").1;
    assert!(taken.starts_with(FILE), "a taken at {taken}\n{report}");
}
