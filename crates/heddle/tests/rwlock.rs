//! `heddle::sync::RwLock`: exact counts under stress, sharing, try/timeout forms, panics,
//! and each policy's ordering and no-starvation property measured as a bound.
//!
//! No sleeps are used as synchronization and nothing asserts on time: "a waiter is
//! queued" is observed through the lock's own (doc-hidden) queue snapshots. The one
//! clock is a deadlock watchdog: threads that all stop making progress for
//! [`STUCK_AFTER`] fail their test instead of hanging it.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use heddle::sync::{RwLock, RwPolicy};

const POLICIES: [RwPolicy; 3] = [
    RwPolicy::ReaderPreferring,
    RwPolicy::WriterPreferring,
    RwPolicy::PhaseFair,
];

/// Generous: only reached if the behaviour under test is broken.
const LONG: Duration = Duration::from_secs(30);

fn spin_until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        thread::yield_now();
    }
}

fn assert_idle<T>(lock: &RwLock<T>) {
    assert!(!lock.is_locked(), "lock still held");
    assert!(!lock.is_writer_waiting(), "stale writer-waiting bit");
    assert_eq!(lock.queued_readers(), 0);
    assert_eq!(lock.queued_writers(), 0);
    assert!(lock.try_write().is_some());
    assert!(lock.try_read().is_some());
}

// ----- exact counts ------------------------------------------------------------------

fn stress(policy: RwPolicy) {
    const WRITERS: usize = 4;
    const READERS: usize = 4;
    const INCREMENTS: u64 = 20_000;
    const MAX_READS: usize = 50_000;
    let lock = RwLock::with_policy((0u64, 0u64), policy);
    let writers_done = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..WRITERS {
            s.spawn(|| {
                for _ in 0..INCREMENTS {
                    let mut g = lock.write();
                    g.0 += 1;
                    g.1 += 1;
                }
                writers_done.fetch_add(1, SeqCst);
            });
        }
        for _ in 0..READERS {
            s.spawn(|| {
                // Bounded, so reader-preferring writers are not starved forever.
                let mut reads = 0;
                while writers_done.load(SeqCst) < WRITERS && reads < MAX_READS {
                    let g = lock.read();
                    assert_eq!(g.0, g.1, "{policy:?}: a reader saw a half-done write");
                    reads += 1;
                }
            });
        }
    });
    assert_eq!(*lock.read(), (80_000, 80_000), "{policy:?}");
    assert_idle(&lock);
}

#[test]
fn stress_reader_preferring() {
    stress(RwPolicy::ReaderPreferring);
}

#[test]
fn stress_writer_preferring() {
    stress(RwPolicy::WriterPreferring);
}

#[test]
fn stress_phase_fair() {
    stress(RwPolicy::PhaseFair);
}

// ----- threads that both read and write --------------------------------------------

/// How long the threads of [`mixed`] may all go without completing an operation before
/// the run is declared deadlocked: far beyond any honest stall.
const STUCK_AFTER: Duration = Duration::from_secs(10);

/// `threads` threads on one lock, each doing `OPS` operations: a write every
/// `WRITE_EVERY`-th (offset per thread), reads otherwise. This is the benchmark's
/// read-heavy pattern, run in `rounds` short rounds on fresh locks. Every thread is a
/// reader most of the time, so a writer-waiting bit left set with no writer behind it
/// parks them all as readers for good (unlike in [`stress`], where dedicated writer
/// threads soon clear it). A hang is reported with the lock's state rather than waited
/// out; writes are counted exactly and the lock must end idle.
///
/// Regression: under `PhaseFair`, a writer that set the bit, saw the last reader leave
/// before it enqueued, took the free lock itself and then released it to parked
/// readers left the bit set with no writer queued; this hung within a few rounds.
fn mixed(policy: RwPolicy, threads: usize, rounds: usize) {
    const OPS: usize = 5_000;
    const WRITE_EVERY: usize = 10;
    /// Spins inside a write guard: readers arriving meanwhile stop spinning and park.
    const WRITE_HOLD: usize = 300;
    /// Spins inside a read guard: a writer arriving mostly finds a reader inside, so it
    /// stops spinning and announces itself, and that reader leaves soon after.
    const READ_HOLD: usize = 40;
    for round in 0..rounds {
        let lock = Arc::new(RwLock::with_policy((0usize, 0usize), policy));
        let progress = Arc::new(AtomicUsize::new(0));
        let (done_tx, done) = mpsc::channel();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (lock, progress, done_tx) =
                    (Arc::clone(&lock), Arc::clone(&progress), done_tx.clone());
                thread::spawn(move || {
                    for k in 0..OPS {
                        if (k + t) % WRITE_EVERY == 0 {
                            let mut g = lock.write();
                            g.0 += 1;
                            for _ in 0..WRITE_HOLD {
                                spin_loop();
                            }
                            g.1 += 1;
                        } else {
                            let g = lock.read();
                            for _ in 0..READ_HOLD {
                                spin_loop();
                            }
                            assert_eq!(g.0, g.1, "{policy:?}: a reader saw a half-done write");
                        }
                        progress.fetch_add(1, Relaxed);
                    }
                    let _ = done_tx.send(());
                })
            })
            .collect();
        drop(done_tx);
        // Wait for every thread (or for one to panic: its sender is dropped unsent),
        // failing if all of them stop making progress.
        let (mut finished, mut seen, mut since) = (0, 0, Instant::now());
        while finished < threads {
            match done.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => finished += 1,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let now = progress.load(Relaxed);
                    if now != seen {
                        (seen, since) = (now, Instant::now());
                    } else if since.elapsed() > STUCK_AFTER {
                        // The threads are abandoned, parked for good.
                        panic!(
                            "{policy:?}, {threads} threads, round {round}: stuck after \
                             {now} operations: locked {}, writer waiting {}, \
                             {} writers and {} readers queued",
                            lock.is_locked(),
                            lock.is_writer_waiting(),
                            lock.queued_writers(),
                            lock.queued_readers()
                        );
                    }
                }
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        let writes = threads * OPS / WRITE_EVERY;
        assert_eq!(*lock.read(), (writes, writes), "{policy:?}, round {round}");
        assert_idle(&lock);
    }
}

/// All policies in one test, one after the other: the threads of tests running
/// concurrently would share the cores with these and rarely let them race each other.
#[test]
fn threads_that_read_and_write() {
    for policy in POLICIES {
        mixed(policy, 2, 30);
        mixed(policy, 3, 5);
    }
}

// ----- sharing and try forms ---------------------------------------------------------

#[test]
fn readers_really_share() {
    for policy in POLICIES {
        let lock = RwLock::with_policy(7, policy);
        let held = lock.read();
        thread::scope(|s| {
            s.spawn(|| {
                let other = lock.try_read().expect("a second reader must get in");
                assert_eq!(*other, 7);
                assert_eq!(*lock.read(), 7);
                assert!(lock.try_write().is_none());
            });
        });
        assert!(lock.is_locked() && !lock.is_locked_exclusive());
        drop(held);
        assert_idle(&lock);
    }
}

#[test]
fn many_readers_inside_at_once() {
    // Every reader waits inside its read guard until all are inside: this only
    // finishes if they really hold the lock together.
    const N: usize = 6;
    for policy in POLICIES {
        let lock = RwLock::with_policy((), policy);
        let inside = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..N {
                s.spawn(|| {
                    let _g = lock.read();
                    inside.fetch_add(1, SeqCst);
                    spin_until(|| inside.load(SeqCst) == N);
                });
            }
        });
        assert_idle(&lock);
    }
}

#[test]
fn try_forms_respect_holders() {
    for policy in POLICIES {
        let lock = RwLock::with_policy(0, policy);
        let r = lock.read();
        assert!(
            lock.try_write().is_none(),
            "{policy:?}: try_write while read-held"
        );
        drop(r);
        let w = lock.write();
        assert!(
            lock.try_write().is_none(),
            "{policy:?}: try_write while write-held"
        );
        assert!(
            lock.try_read().is_none(),
            "{policy:?}: try_read while write-held"
        );
        assert!(lock.is_locked_exclusive());
        drop(w);
        assert_idle(&lock);
    }
}

// ----- timeouts ----------------------------------------------------------------------

#[test]
fn timeouts_expire_while_held() {
    for policy in POLICIES {
        let lock = RwLock::with_policy(0, policy);
        let r = lock.read();
        thread::scope(|s| {
            s.spawn(|| {
                assert!(lock.write_timeout(Duration::from_millis(5)).is_none());
                assert!(lock.write_timeout(Duration::ZERO).is_none());
            });
        });
        // The writer gave up: readers are not held back by it any more.
        assert!(
            lock.try_read().is_some(),
            "{policy:?}: timed-out writer blocks readers"
        );
        drop(r);
        let w = lock.write();
        thread::scope(|s| {
            s.spawn(|| {
                assert!(lock.read_timeout(Duration::from_millis(5)).is_none());
                assert!(lock.write_timeout(Duration::from_millis(5)).is_none());
                assert!(lock.read_timeout(Duration::ZERO).is_none());
            });
        });
        drop(w);
        assert!(lock.read_timeout(Duration::ZERO).is_some());
        assert!(lock.write_timeout(Duration::ZERO).is_some());
        assert_idle(&lock);
    }
}

#[test]
fn timed_wait_succeeds_when_released() {
    for policy in POLICIES {
        let lock = RwLock::with_policy(0, policy);
        let w = lock.write();
        thread::scope(|s| {
            let reader = s.spawn(|| *lock.read_timeout(LONG).expect("released in time"));
            let writer = s.spawn(|| {
                *lock.write_timeout(LONG).expect("released in time") += 1;
            });
            spin_until(|| lock.queued_readers() == 1 && lock.queued_writers() == 1);
            drop(w);
            writer.join().unwrap();
            let seen = reader.join().unwrap();
            assert!(seen == 0 || seen == 1);
        });
        assert_eq!(*lock.read(), 1);
        assert_idle(&lock);
    }
}

/// Waiters with tiny deadlines race hand-offs constantly; a hand-off lost to a timeout
/// would leave the lock held or a waiter stranded, and the run would hang or fail
/// `assert_idle`. Successful writes are counted exactly.
#[test]
fn timeouts_never_lose_a_handoff() {
    const THREADS: usize = 6;
    const ROUNDS: usize = 2_000;
    for policy in POLICIES {
        let lock = RwLock::with_policy((0usize, 0usize), policy);
        let writes = AtomicUsize::new(0);
        thread::scope(|s| {
            for t in 0..THREADS {
                let lock = &lock;
                let writes = &writes;
                s.spawn(move || {
                    for i in 0..ROUNDS {
                        let timeout = Duration::from_micros(((t * 7 + i) % 40) as u64);
                        match (t + i) % 3 {
                            0 => {
                                if let Some(mut g) = lock.write_timeout(timeout) {
                                    g.0 += 1;
                                    g.1 += 1;
                                    writes.fetch_add(1, SeqCst);
                                }
                            }
                            1 => {
                                if let Some(g) = lock.read_timeout(timeout) {
                                    assert_eq!(g.0, g.1);
                                }
                            }
                            _ => {
                                if i % 2 == 0 {
                                    let mut g = lock.write();
                                    g.0 += 1;
                                    g.1 += 1;
                                    writes.fetch_add(1, SeqCst);
                                } else {
                                    let g = lock.read();
                                    assert_eq!(g.0, g.1);
                                }
                            }
                        }
                    }
                });
            }
        });
        let n = writes.load(SeqCst);
        assert_eq!(*lock.read(), (n, n), "{policy:?}");
        assert_idle(&lock);
    }
}

// ----- panics ------------------------------------------------------------------------

#[test]
fn guards_release_on_panic() {
    for policy in POLICIES {
        let lock = Arc::new(RwLock::with_policy(0, policy));
        let l = Arc::clone(&lock);
        let r = thread::spawn(move || {
            let mut g = l.write();
            *g = 5;
            panic!("writer panics holding the lock");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(
            *lock.read(),
            5,
            "no poisoning: data is what the writer left"
        );
        let l = Arc::clone(&lock);
        let r = thread::spawn(move || {
            let _g = l.read();
            panic!("reader panics holding the lock");
        })
        .join();
        assert!(r.is_err());
        *lock.write() += 1;
        assert_eq!(*lock.read(), 6);
        assert_idle(&lock);
    }
}

// ----- policy semantics --------------------------------------------------------------

#[test]
fn reader_preferring_readers_pass_a_waiting_writer() {
    let lock = RwLock::with_policy(0, RwPolicy::ReaderPreferring);
    let held = lock.read();
    thread::scope(|s| {
        let writer = s.spawn(|| *lock.write() += 1);
        spin_until(|| lock.queued_writers() == 1);
        assert!(lock.is_writer_waiting());
        // A writer waits, yet new readers still get in, blocking or not.
        let a = lock
            .try_read()
            .expect("reader-preferring: reader blocked by a waiter");
        let b = lock.read();
        assert_eq!(*a + *b, 0);
        drop((a, b));
        drop(held);
        writer.join().unwrap();
    });
    assert_eq!(*lock.read(), 1);
    assert_idle(&lock);
}

#[test]
fn waiting_writer_blocks_new_readers() {
    for policy in [RwPolicy::WriterPreferring, RwPolicy::PhaseFair] {
        let lock = RwLock::with_policy(0, policy);
        let held = lock.read();
        thread::scope(|s| {
            let writer = s.spawn(|| *lock.write() += 1);
            spin_until(|| lock.queued_writers() == 1);
            assert!(
                lock.try_read().is_none(),
                "{policy:?}: reader passed a waiting writer"
            );
            assert!(lock.read_timeout(Duration::from_millis(1)).is_none());
            let reader = s.spawn(|| *lock.read());
            spin_until(|| lock.queued_readers() == 1);
            drop(held);
            writer.join().unwrap();
            // The reader queued behind the writer, so it sees the write.
            assert_eq!(reader.join().unwrap(), 1, "{policy:?}");
        });
        assert_idle(&lock);
    }
}

/// A writer holds the lock while one writer and one reader queue (the writer first).
/// On release, writer-preferring serves the writer next; reader-preferring and
/// phase-fair serve the reader next.
#[test]
fn who_goes_after_a_writer() {
    for policy in POLICIES {
        let lock = RwLock::with_policy((), policy);
        let order = AtomicUsize::new(0);
        let held = lock.write();
        let (w_turn, r_turn) = thread::scope(|s| {
            let writer = s.spawn(|| {
                let _g = lock.write();
                order.fetch_add(1, SeqCst)
            });
            spin_until(|| lock.queued_writers() == 1);
            let reader = s.spawn(|| {
                let _g = lock.read();
                order.fetch_add(1, SeqCst)
            });
            spin_until(|| lock.queued_readers() == 1);
            drop(held);
            (writer.join().unwrap(), reader.join().unwrap())
        });
        match policy {
            RwPolicy::WriterPreferring => assert!(w_turn < r_turn, "{policy:?}"),
            _ => assert!(r_turn < w_turn, "{policy:?}"),
        }
        assert_idle(&lock);
    }
}

/// Readers re-acquire in a tight loop. Once a writer has queued (it cannot get in while
/// the test holds a read guard, so it must queue), no new reader is admitted under
/// writer-preferring or phase-fair: readers counted after that point are only those
/// already past `read()` (at most one per reader thread), and the writer gets in.
#[test]
fn queued_writer_is_not_starved_by_a_reader_stream() {
    const READERS: usize = 4;
    for policy in [RwPolicy::WriterPreferring, RwPolicy::PhaseFair] {
        for _round in 0..5 {
            let lock = RwLock::with_policy(0u64, policy);
            let admitted = AtomicUsize::new(0);
            let stop = AtomicBool::new(false);
            thread::scope(|s| {
                for _ in 0..READERS {
                    s.spawn(|| {
                        while !stop.load(SeqCst) {
                            let g = lock.read();
                            admitted.fetch_add(1, SeqCst);
                            drop(g);
                        }
                    });
                }
                spin_until(|| admitted.load(SeqCst) >= 200);
                let held = lock.read();
                let writer = s.spawn(|| {
                    let mut g = lock.write();
                    *g += 1;
                    admitted.load(SeqCst)
                });
                spin_until(|| lock.queued_writers() == 1);
                let base = admitted.load(SeqCst);
                drop(held);
                let at_writer = writer.join().unwrap();
                stop.store(true, SeqCst);
                assert!(
                    at_writer - base <= READERS,
                    "{policy:?}: {} readers admitted after the writer queued",
                    at_writer - base
                );
            });
            assert_eq!(*lock.read(), 1);
            assert_idle(&lock);
        }
    }
}

/// Phase-fair, the other direction: writers re-acquire in a tight loop; once a reader
/// has queued, it is admitted at the next writer release: no other writer gets in first.
#[test]
fn phase_fair_queued_reader_is_not_starved_by_a_writer_stream() {
    const WRITERS: usize = 3;
    for _round in 0..5 {
        let lock = RwLock::with_policy(0usize, RwPolicy::PhaseFair);
        let stop = AtomicBool::new(false);
        thread::scope(|s| {
            for _ in 0..WRITERS {
                s.spawn(|| {
                    while !stop.load(SeqCst) {
                        *lock.write() += 1;
                    }
                });
            }
            spin_until(|| *lock.read() >= 200);
            let held = lock.write();
            let base = *held;
            let reader = s.spawn(|| *lock.read());
            spin_until(|| lock.queued_readers() == 1);
            drop(held);
            let seen = reader.join().unwrap();
            stop.store(true, SeqCst);
            assert!(
                seen - base <= WRITERS,
                "phase-fair: {} writes admitted after the reader queued",
                seen - base
            );
        });
        assert_idle(&lock);
    }
}

// ----- odds and ends -----------------------------------------------------------------

#[test]
fn constructors_and_accessors() {
    let lock: RwLock<Vec<u8>> = RwLock::default();
    assert_eq!(lock.policy(), RwPolicy::PhaseFair);
    let mut lock = RwLock::from(vec![1u8]);
    lock.get_mut().push(2);
    let text = format!("{lock:?}");
    assert!(
        text.contains("[1, 2]") && text.contains("PhaseFair"),
        "{text}"
    );
    // The creation site is the caller's, through `From` and `new`.
    assert!(text.contains("tests/rwlock.rs"), "{text}");
    let w = lock.write();
    assert!(format!("{lock:?}").contains("<locked>"));
    assert_eq!(format!("{w:?}"), "[1, 2]");
    drop(w);
    assert_eq!(lock.into_inner(), vec![1, 2]);

    fn send_sync<T: Send + Sync>() {}
    fn sync<T: Sync>() {}
    send_sync::<RwLock<u32>>();
    sync::<heddle::sync::RwLockReadGuard<'static, u32>>();
    sync::<heddle::sync::RwLockWriteGuard<'static, u32>>();
}
