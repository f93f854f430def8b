//! The `locks` group: heddle's `sync` primitives against std, parking_lot and Python.
//!
//! Every case reports ns/op (lower is better). Multi-threaded cases report wall time
//! divided by the total number of operations of all threads, measured from the first
//! thread's start to the last thread's end (each thread times itself after a start
//! barrier, so thread spawning is not measured).

use std::hint::black_box;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier as StdBarrier, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{Case, CaseBuilder, Config, Unit};
use crate::python;
use crate::Report;

const PYTHON_SCRIPT: &str = include_str!("../python/locks.py");

/// A case: measures heddle and its anchors and returns their figures.
type CaseFn = fn(&Config) -> Case;

/// Run the group: the Python figures first (in their own process, not overlapping the
/// Rust measurements), then each case.
pub fn run(cfg: &Config, report: &mut Report) {
    let cases: &[(&str, CaseFn)] = &[
        ("lock uncontended", lock_uncontended),
        ("lock contended 2 threads", lock_contended),
        ("rlock uncontended", rlock_uncontended),
        ("rlock re-entrant depth 2", rlock_depth2),
        ("rwlock read uncontended", rwlock_read_uncontended),
        ("rwlock write uncontended", rwlock_write_uncontended),
        ("rwlock read-heavy 2 threads", rwlock_read_heavy),
        ("semaphore acquire+release", semaphore),
        ("event ping-pong", event_ping_pong),
        ("barrier round", barrier_round),
    ];
    let selected: Vec<_> = cases.iter().filter(|(name, _)| cfg.selects(name)).collect();
    if selected.is_empty() {
        report.note("no case matches --filter");
        return;
    }
    let names: Vec<&str> = selected.iter().map(|(name, _)| *name).collect();
    let py = match python::run(PYTHON_SCRIPT, cfg, &names) {
        Ok(py) => {
            report.note(&format!(
                "python column: {}, bound-method calls in a for loop",
                py.describe()
            ));
            Some(py)
        }
        Err(msg) => {
            report.note(&msg);
            None
        }
    };
    for (name, case) in selected {
        let mut case = case(cfg);
        debug_assert_eq!(case.name, *name);
        if let Some(py) = &py {
            py.add_to(&mut case);
        }
        report.case(case);
    }
}

/// How long the threads of one multi-threaded run may take before the run is declared
/// stuck (a deadlock or a lost wake-up): far beyond any honest round, which is aimed
/// at tens of milliseconds.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(10);

/// Give a value the `'static` lifetime the threads of a multi-threaded run need. The
/// leak (a few small locks per case) lasts until the bench exits; it is what lets a
/// stuck run be abandoned instead of hanging the bench.
pub(crate) fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// Run `body(thread_index, iterations)` on `threads` threads started together; return
/// the span from the earliest start to the latest end.
///
/// # Panics
///
/// If the threads have not all finished after [`STUCK_AFTER`] (they are abandoned,
/// parked or spinning, and the harness reports the implementation as failed), or if
/// one of them panicked.
pub(crate) fn on_threads(
    threads: usize,
    iters: u64,
    body: impl Fn(usize, u64) + Send + Sync + 'static,
) -> Duration {
    let body = Arc::new(body);
    let start = Arc::new(StdBarrier::new(threads));
    let (tx, rx) = mpsc::channel();
    for i in 0..threads {
        let (body, start, tx) = (Arc::clone(&body), Arc::clone(&start), tx.clone());
        std::thread::Builder::new()
            .name(format!("bench-{i}"))
            .spawn(move || {
                start.wait();
                let t0 = Instant::now();
                body(i, iters);
                let _ = tx.send((t0, Instant::now()));
            })
            .expect("spawn a benchmark thread");
    }
    drop(tx);
    let deadline = Instant::now() + STUCK_AFTER;
    let mut spans = Vec::with_capacity(threads);
    while spans.len() < threads {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(span) => spans.push(span),
            Err(RecvTimeoutError::Timeout) => panic!(
                "stuck: {} of {threads} threads still running after {}s \
                 (deadlock or lost wake-up?)",
                threads - spans.len(),
                STUCK_AFTER.as_secs()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!("a benchmark thread panicked"),
        }
    }
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    last - first
}

/// `total` operations split over two threads; returns the wall time scaled so that
/// dividing by `total` gives ns per operation.
fn split_over_two(total: u64, body: impl Fn(usize, u64) + Send + Sync + 'static) -> Duration {
    let per = (total / 2).max(1);
    let elapsed = on_threads(2, per, body);
    elapsed.mul_f64(total as f64 / (2 * per) as f64)
}

// ---------------------------------------------------------------------------------
// Lock

fn lock_uncontended(cfg: &Config) -> Case {
    let h = heddle::sync::Lock::new(0u64);
    let s = Mutex::new(0u64);
    let p = parking_lot::Mutex::new(0u64);
    CaseBuilder::new("lock uncontended", Unit::NsPerOp)
        .add_op("heddle", || *black_box(&h).lock() += 1)
        .add_op("std", || *black_box(&s).lock().unwrap() += 1)
        .add_op("parking_lot", || *black_box(&p).lock() += 1)
        .measure(cfg)
}

fn lock_contended(cfg: &Config) -> Case {
    let h = leak(heddle::sync::Lock::new(0u64));
    let s = leak(Mutex::new(0u64));
    let p = leak(parking_lot::Mutex::new(0u64));
    CaseBuilder::new("lock contended 2 threads", Unit::NsPerOp)
        .add("heddle", |n| {
            split_over_two(n, move |_, per| {
                for _ in 0..per {
                    *black_box(h).lock() += 1;
                }
            })
        })
        .add("std", |n| {
            split_over_two(n, move |_, per| {
                for _ in 0..per {
                    *black_box(s).lock().unwrap() += 1;
                }
            })
        })
        .add("parking_lot", |n| {
            split_over_two(n, move |_, per| {
                for _ in 0..per {
                    *black_box(p).lock() += 1;
                }
            })
        })
        .measure(cfg)
}

// ---------------------------------------------------------------------------------
// RLock

fn rlock_uncontended(cfg: &Config) -> Case {
    let h = heddle::sync::RLock::new(0u64);
    let p = parking_lot::ReentrantMutex::new(0u64);
    CaseBuilder::new("rlock uncontended", Unit::NsPerOp)
        .add_op("heddle", || {
            black_box(*black_box(&h).lock());
        })
        .add_op("parking_lot", || {
            black_box(*black_box(&p).lock());
        })
        .measure(cfg)
}

fn rlock_depth2(cfg: &Config) -> Case {
    let h = heddle::sync::RLock::new(0u64);
    let p = parking_lot::ReentrantMutex::new(0u64);
    CaseBuilder::new("rlock re-entrant depth 2", Unit::NsPerOp)
        .add_op("heddle", || {
            let outer = black_box(&h).lock();
            let inner = black_box(&h).lock();
            black_box(*inner + *outer);
        })
        .add_op("parking_lot", || {
            let outer = black_box(&p).lock();
            let inner = black_box(&p).lock();
            black_box(*inner + *outer);
        })
        .measure(cfg)
}

// ---------------------------------------------------------------------------------
// RwLock

/// The implementations every RwLock case compares: `heddle` (`RwLock::new`, the default
/// policy), heddle with each other policy, std and parking_lot. `$each` is a macro
/// building one implementation's closure from `(lock, |l| read guard, |l| write guard)`.
macro_rules! rwlock_impls {
    ($cfg:expr, $builder:expr, $each:ident) => {{
        use heddle::sync::{RwLock, RwPolicy};
        let default = RwPolicy::default();
        let h = leak(RwLock::new(0u64));
        let hr = leak(RwLock::with_policy(0u64, RwPolicy::ReaderPreferring));
        let hw = leak(RwLock::with_policy(0u64, RwPolicy::WriterPreferring));
        let hp = leak(RwLock::with_policy(0u64, RwPolicy::PhaseFair));
        let s = leak(std::sync::RwLock::new(0u64));
        let p = leak(parking_lot::RwLock::new(0u64));
        let mut b = $builder
            .note(&format!(
                "heddle = RwLock::new, the default policy ({default:?})"
            ))
            .add("heddle", $each!(h, |l| l.read(), |l| l.write()));
        if default != RwPolicy::ReaderPreferring {
            b = b.add(
                "heddle/reader-pref",
                $each!(hr, |l| l.read(), |l| l.write()),
            );
        }
        if default != RwPolicy::WriterPreferring {
            b = b.add(
                "heddle/writer-pref",
                $each!(hw, |l| l.read(), |l| l.write()),
            );
        }
        if default != RwPolicy::PhaseFair {
            b = b.add("heddle/phase-fair", $each!(hp, |l| l.read(), |l| l.write()));
        }
        b.add(
            "std",
            $each!(s, |l| l.read().unwrap(), |l| l.write().unwrap()),
        )
        .add("parking_lot", $each!(p, |l| l.read(), |l| l.write()))
        .measure($cfg)
    }};
}

/// `iters` read locks taken and released on one thread.
macro_rules! read_loop {
    ($lock:ident, |$r:ident| $read:expr, |$w:ident| $write:expr) => {
        |n| {
            let start = Instant::now();
            for _ in 0..n {
                let $r = black_box($lock);
                black_box(*$read);
            }
            start.elapsed()
        }
    };
}

/// `iters` write locks taken and released on one thread.
macro_rules! write_loop {
    ($lock:ident, |$r:ident| $read:expr, |$w:ident| $write:expr) => {
        |n| {
            let start = Instant::now();
            for _ in 0..n {
                let $w = black_box($lock);
                *$write += 1;
            }
            start.elapsed()
        }
    };
}

/// Two threads, each doing its half of `iters` operations: one write in ten, the rest
/// reads (the case's note says so).
macro_rules! read_heavy_loop {
    ($lock:ident, |$r:ident| $read:expr, |$w:ident| $write:expr) => {
        |n| {
            split_over_two(n, move |_, per| {
                for i in 0..per {
                    if i % 10 == 0 {
                        let $w = black_box($lock);
                        *$write += 1;
                    } else {
                        let $r = black_box($lock);
                        black_box(*$read);
                    }
                }
            })
        }
    };
}

fn rwlock_read_uncontended(cfg: &Config) -> Case {
    rwlock_impls!(
        cfg,
        CaseBuilder::new("rwlock read uncontended", Unit::NsPerOp),
        read_loop
    )
}

fn rwlock_write_uncontended(cfg: &Config) -> Case {
    rwlock_impls!(
        cfg,
        CaseBuilder::new("rwlock write uncontended", Unit::NsPerOp),
        write_loop
    )
}

fn rwlock_read_heavy(cfg: &Config) -> Case {
    rwlock_impls!(
        cfg,
        CaseBuilder::new("rwlock read-heavy 2 threads", Unit::NsPerOp)
            .note("each thread: 9 reads, then 1 write (+1), repeated"),
        read_heavy_loop
    )
}

// ---------------------------------------------------------------------------------
// Semaphore

/// The classic counting semaphore: a count under a mutex and a condition variable.
/// `M` picks std's or parking_lot's pair.
struct CondvarSemaphore<M, C> {
    count: M,
    available: C,
}

impl CondvarSemaphore<Mutex<usize>, Condvar> {
    fn new_std(n: usize) -> Self {
        CondvarSemaphore {
            count: Mutex::new(n),
            available: Condvar::new(),
        }
    }

    fn acquire(&self) {
        let mut count = self.count.lock().unwrap();
        while *count == 0 {
            count = self.available.wait(count).unwrap();
        }
        *count -= 1;
    }

    fn release(&self) {
        *self.count.lock().unwrap() += 1;
        self.available.notify_one();
    }
}

impl CondvarSemaphore<parking_lot::Mutex<usize>, parking_lot::Condvar> {
    fn new_parking_lot(n: usize) -> Self {
        CondvarSemaphore {
            count: parking_lot::Mutex::new(n),
            available: parking_lot::Condvar::new(),
        }
    }

    fn acquire(&self) {
        let mut count = self.count.lock();
        while *count == 0 {
            self.available.wait(&mut count);
        }
        *count -= 1;
    }

    fn release(&self) {
        *self.count.lock() += 1;
        self.available.notify_one();
    }
}

fn semaphore(cfg: &Config) -> Case {
    let h = heddle::sync::Semaphore::new(1);
    let hb = heddle::sync::BoundedSemaphore::new(1);
    let s = CondvarSemaphore::new_std(1);
    let p = CondvarSemaphore::new_parking_lot(1);
    CaseBuilder::new("semaphore acquire+release", Unit::NsPerOp)
        .add_op("heddle", || drop(black_box(&h).acquire()))
        .add_op("heddle/bounded", || drop(black_box(&hb).acquire()))
        .add_op("std mutex+condvar", || {
            black_box(&s).acquire();
            black_box(&s).release();
        })
        .add_op("parking_lot mutex+condvar", || {
            black_box(&p).acquire();
            black_box(&p).release();
        })
        .measure(cfg)
}

// ---------------------------------------------------------------------------------
// Event

/// The classic event: a flag under a mutex and a condition variable.
struct CondvarEvent {
    flag: Mutex<bool>,
    changed: Condvar,
}

impl CondvarEvent {
    fn new() -> Self {
        CondvarEvent {
            flag: Mutex::new(false),
            changed: Condvar::new(),
        }
    }

    fn set(&self) {
        *self.flag.lock().unwrap() = true;
        self.changed.notify_all();
    }

    fn clear(&self) {
        *self.flag.lock().unwrap() = false;
    }

    fn wait(&self) {
        let mut flag = self.flag.lock().unwrap();
        while !*flag {
            flag = self.changed.wait(flag).unwrap();
        }
    }
}

/// One side of the ping-pong: thread 0 sets `ping` and waits for `pong`; thread 1
/// answers. Each clears the event it waited on before answering, so a round trip is
/// set → wake → clear → set → wake → clear.
macro_rules! ping_pong {
    ($ping:expr, $pong:expr) => {
        |n| {
            let (ping, pong) = ($ping, $pong);
            on_threads(2, n, move |i, rounds| {
                for _ in 0..rounds {
                    if i == 0 {
                        ping.set();
                        pong.wait();
                        pong.clear();
                    } else {
                        ping.wait();
                        ping.clear();
                        pong.set();
                    }
                }
            })
        }
    };
}

fn event_ping_pong(cfg: &Config) -> Case {
    let (hping, hpong) = (heddle::sync::Event::new(), heddle::sync::Event::new());
    let (sping, spong) = (leak(CondvarEvent::new()), leak(CondvarEvent::new()));
    CaseBuilder::new("event ping-pong", Unit::NsPerOp)
        .add("heddle", ping_pong!(hping.clone(), hpong.clone()))
        .add("std mutex+condvar", ping_pong!(sping, spong))
        .measure(cfg)
}

// ---------------------------------------------------------------------------------
// Barrier

fn barrier_round(cfg: &Config) -> Case {
    let h = leak(heddle::sync::Barrier::new(2));
    let s = leak(StdBarrier::new(2));
    CaseBuilder::new("barrier round", Unit::NsPerOp)
        .add("heddle", |n| {
            on_threads(2, n, move |_, rounds| {
                for _ in 0..rounds {
                    black_box(h.wait().expect("barrier broken"));
                }
            })
        })
        .add("std", |n| {
            on_threads(2, n, move |_, rounds| {
                for _ in 0..rounds {
                    black_box(s.wait());
                }
            })
        })
        .measure(cfg)
}
