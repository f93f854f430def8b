//! The `contention` group: heddle's `Lock` under contention against std's and
//! parking_lot's mutexes, and a zero-timeout attempt on a held lock against `try_lock`.
//!
//! Throughput cases: `threads` threads share one lock (or 128 threads share 16 locks,
//! 8 per lock) and take it until the lock's budget of operations is spent; each
//! acquisition does a short critical section (an increment) or a long one (about a
//! microsecond of arithmetic). They report ns per operation: wall time from the first
//! thread's start to the last thread's end, over the total operations (lower is
//! better). Each throughput case is followed by its fairness case: the slowest thread's
//! operations over the fastest thread's in the same runs (1 is perfectly fair; higher is
//! better), the median over the timed runs. Rounds are longer than other groups' (up
//! to 0.8 s for 128 threads): in a short run, who the scheduler happened to run first
//! decides the fairness figure, not the lock.
//!
//! The zero-timeout cases hold the lock on another thread and time one attempt to take
//! it: heddle's `lock_timeout(Duration::ZERO)` (Python's `acquire(timeout=0)`) next to
//! heddle's own `try_lock` and the anchors' `try_lock`; likewise for a semaphore with no
//! permit left.
//!
//! Set `HEDDLE_BENCH_COUNTS=1` to print each run's per-thread operation counts to stderr.

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{median_and_spread, Case, CaseBuilder, Config, Figure, Unit};
use crate::locks::{leak, on_threads};
use crate::Report;

/// How much work one acquisition does while it holds the lock.
#[derive(Clone, Copy, Debug)]
enum Section {
    /// An increment of the protected counter.
    Short,
    /// The increment plus [`LONG_STEPS`] dependent multiply-adds (about a microsecond).
    Long,
}

/// Dependent multiply-adds in a long critical section: each waits for the previous one.
const LONG_STEPS: u64 = 300;

impl Section {
    fn name(self) -> &'static str {
        match self {
            Section::Short => "short",
            Section::Long => "long",
        }
    }

    #[inline]
    fn work(self, counter: &mut u64) {
        *counter += 1;
        if let Section::Long = self {
            let mut x = *counter;
            for k in 0..LONG_STEPS {
                x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(k));
            }
            black_box(x);
        }
    }
}

/// What the throughput cases need of a lock: run `f` on the protected counter under it.
trait BenchLock: Send + Sync + 'static {
    fn new() -> Self;
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R;
}

impl BenchLock for heddle::sync::Lock<u64> {
    fn new() -> Self {
        heddle::sync::Lock::new(0)
    }
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.lock())
    }
}

impl BenchLock for Mutex<u64> {
    fn new() -> Self {
        Mutex::new(0)
    }
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.lock().unwrap())
    }
}

impl BenchLock for parking_lot::Mutex<u64> {
    fn new() -> Self {
        parking_lot::Mutex::new(0)
    }
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut u64) -> R) -> R {
        f(&mut self.lock())
    }
}

/// The fairness of each run of one implementation: `(operations, slowest/fastest)`.
type Fairness = Rc<RefCell<Vec<(u64, f64)>>>;

/// One run: `threads` threads over `locks` (thread `i` uses lock `i % locks.len()`),
/// `total` operations in all (each lock's share is its budget). Returns the elapsed
/// time and records the run's fairness.
fn contend<L: BenchLock>(
    label: &str,
    locks: &'static [L],
    threads: usize,
    section: Section,
    total: u64,
    fairness: &Fairness,
) -> Duration {
    let per_lock = (total / locks.len() as u64).max(1);
    for lock in locks {
        lock.with(|c| *c = 0);
    }
    let counts = Arc::new(Mutex::new(vec![0u64; threads]));
    let counts_in = Arc::clone(&counts);
    let elapsed = on_threads(threads, per_lock, move |i, budget| {
        let lock = &locks[i % locks.len()];
        let mut mine = 0u64;
        while lock.with(|c| {
            let more = *c < budget;
            if more {
                section.work(c);
            }
            more
        }) {
            mine += 1;
        }
        counts_in.lock().unwrap()[i] = mine;
    });
    let counts = counts.lock().unwrap();
    if std::env::var_os("HEDDLE_BENCH_COUNTS").is_some() {
        eprintln!("{label}: {threads} threads, {total} ops: {counts:?}");
    }
    let (min, max) = (
        *counts.iter().min().unwrap_or(&0),
        *counts.iter().max().unwrap_or(&0),
    );
    let ratio = if max == 0 {
        1.0
    } else {
        min as f64 / max as f64
    };
    fairness.borrow_mut().push((total, ratio));
    // Scale to `total` operations exactly (the budget rounds down per lock).
    elapsed.mul_f64(total as f64 / (per_lock * locks.len() as u64) as f64)
}

/// The fairness figure of one implementation: the median over its timed runs (the
/// calibration and warm-up runs, a tenth the size or less, are left out: in a run that
/// short, thread start-up skew alone decides who did what).
fn fairness_figure(implementation: &str, runs: &[(u64, f64)], failed: bool) -> Figure {
    let longest = runs.iter().map(|r| r.0).max().unwrap_or(0);
    let timed: Vec<f64> = runs
        .iter()
        .filter(|r| r.0 * 4 >= longest)
        .map(|r| r.1)
        .collect();
    let (value, spread) = if failed || timed.is_empty() {
        (f64::NAN, None)
    } else {
        let (m, s) = median_and_spread(timed);
        (m, Some(s))
    };
    Figure {
        implementation: implementation.to_owned(),
        value,
        spread,
        failure: failed.then(|| "see the throughput case".to_owned()),
    }
}

/// A throughput case and its fairness case for `threads` threads over `locks` locks.
fn throughput(cfg: &Config, report: &mut Report, locks: usize, threads: usize, section: Section) {
    let name = if locks == 1 {
        format!("lock {threads} threads {} section", section.name())
    } else {
        format!("{locks} locks {threads} threads {} section", section.name())
    };
    if !cfg.selects(&name) {
        return;
    }
    // Fairness needs runs long enough for the scheduler to have run every thread many
    // times over (128 runnable threads on 2 cores take tens of milliseconds just to
    // each get one time slice), so the crowded cases run longer rounds.
    let mut cfg = cfg.clone();
    let floor = Duration::from_millis(match threads {
        0..=8 => 100,
        9..=32 => 300,
        _ => 800,
    }) / if cfg.quick { 4 } else { 1 };
    cfg.round_time = cfg.round_time.max(floor);
    let cfg = &cfg;
    fn leak_locks<L: BenchLock>(n: usize) -> &'static [L] {
        Box::leak(
            (0..n)
                .map(|_| L::new())
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )
    }
    let h = leak_locks::<heddle::sync::Lock<u64>>(locks);
    let s = leak_locks::<Mutex<u64>>(locks);
    let p = leak_locks::<parking_lot::Mutex<u64>>(locks);
    let fair: Vec<Fairness> = (0..3).map(|_| Fairness::default()).collect();
    let case = CaseBuilder::new(&name, Unit::NsPerOp)
        .add("heddle", {
            let f = fair[0].clone();
            move |n| contend("heddle", h, threads, section, n, &f)
        })
        .add("std", {
            let f = fair[1].clone();
            move |n| contend("std", s, threads, section, n, &f)
        })
        .add("parking_lot", {
            let f = fair[2].clone();
            move |n| contend("parking_lot", p, threads, section, n, &f)
        })
        .measure(cfg);
    let results = case
        .results
        .iter()
        .zip(&fair)
        .map(|(figure, runs)| {
            fairness_figure(
                &figure.implementation,
                &runs.borrow(),
                figure.failure.is_some(),
            )
        })
        .collect();
    report.case(case);
    report.case(Case {
        name: format!("{name} fairness"),
        unit: Unit::SlowestOverFastest,
        results,
        notes: vec!["slowest thread's operations / fastest thread's, same runs".to_owned()],
    });
}

/// Run `hold` on a helper thread (it takes a lock or the last permit and keeps it until
/// told to stop); returns once it holds, with the sender that ends the hold.
fn held_by_another(
    hold: impl FnOnce(mpsc::Receiver<()>, mpsc::Sender<()>) + Send + 'static,
) -> mpsc::Sender<()> {
    let (stop_tx, stop_rx) = mpsc::channel();
    let (held_tx, held_rx) = mpsc::channel();
    std::thread::spawn(move || hold(stop_rx, held_tx));
    held_rx.recv().expect("the holder thread took the lock");
    stop_tx
}

fn zero_timeout_lock(cfg: &Config, report: &mut Report) {
    let name = "lock zero-timeout attempt on a held lock";
    if !cfg.selects(name) {
        return;
    }
    let h = leak(heddle::sync::Lock::new(0u64));
    let s = leak(Mutex::new(0u64));
    let p = leak(parking_lot::Mutex::new(0u64));
    let stop = held_by_another(move |stop, held| {
        let _h = h.lock();
        let _s = s.lock().unwrap();
        let _p = p.lock();
        held.send(()).unwrap();
        let _ = stop.recv();
    });
    let case = CaseBuilder::new(name, Unit::NsPerOp)
        .add_op("heddle", || {
            assert!(black_box(h).lock_timeout(Duration::ZERO).is_none());
        })
        .add_op("heddle/try_lock", || {
            assert!(black_box(h).try_lock().is_none());
        })
        .add_op("std/try_lock", || {
            assert!(black_box(s).try_lock().is_err());
        })
        .add_op("parking_lot/try_lock", || {
            assert!(black_box(p).try_lock().is_none());
        })
        .note("heddle: lock_timeout(Duration::ZERO); the lock is held by another thread")
        .measure(cfg);
    drop(stop);
    report.case(case);
}

fn zero_timeout_semaphore(cfg: &Config, report: &mut Report) {
    let name = "semaphore zero-timeout attempt with no permit";
    if !cfg.selects(name) {
        return;
    }
    let h = leak(heddle::sync::Semaphore::new(1));
    let p = leak(parking_lot::Mutex::new(0u64));
    let stop = held_by_another(move |stop, held| {
        let _permit = h.acquire();
        let _p = p.lock();
        held.send(()).unwrap();
        let _ = stop.recv();
    });
    let case = CaseBuilder::new(name, Unit::NsPerOp)
        .add_op("heddle", || {
            assert!(black_box(h).acquire_timeout(Duration::ZERO).is_none());
        })
        .add_op("heddle/try_acquire", || {
            assert!(black_box(h).try_acquire().is_none());
        })
        .add_op("parking_lot/try_lock", || {
            assert!(black_box(p).try_lock().is_none());
        })
        .note("heddle: acquire_timeout(Duration::ZERO) with the only permit held elsewhere")
        .measure(cfg);
    drop(stop);
    report.case(case);
}

/// Run the group.
pub fn run(cfg: &Config, report: &mut Report) {
    for section in [Section::Short, Section::Long] {
        for threads in [2, 8, 32, 128] {
            throughput(cfg, report, 1, threads, section);
        }
    }
    throughput(cfg, report, 16, 128, Section::Short);
    zero_timeout_lock(cfg, report);
    zero_timeout_semaphore(cfg, report);
    report.note(
        "every implementation runs in this one process, alternating round by round; \
         on a machine shared with other work, quote ratios, not absolute figures",
    );
}
