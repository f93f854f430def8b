//! The `check` group, part two: the classic buggy programs (SCTBench-style), each
//! written once per tool (heddle, shuttle, loom) from one macro.
//!
//! * **Executions to first bug**: lost update, N-thread reordering, two-stage, dining
//!   philosophers, AB-BA; heddle's strategies (partial-order sampling, the default;
//!   random; PCT(3); DPOR) against shuttle's PCT(3) and random and loom's DPOR.
//!   Randomised strategies: median over the seeds (the same seeds for both tools);
//!   systematic ones are deterministic. A count, not a time: printed as notes.
//! * **DPOR exhaustion**: the fixed versions, heddle's `Checker::dpor` against loom (no
//!   preemption bound): executions and wall-clock time to cover every interleaving,
//!   alternating the two tools round by round; medians.
//!
//! Loom runs at most 5 threads (main included), so the larger programs show it as
//! n/a. The tools differ in what a step is (heddle and shuttle: each operation on a
//! lock, atomic or thread; loom also models memory orderings), so executions are
//! compared on the same source programs, not the same state spaces.

use std::sync::atomic::{AtomicUsize as StdAtomic, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::Config;
use crate::Report;

/// Executions before a search is given up (shown as `>LIMIT`).
const LIMIT: usize = 20_000;
/// Seeds per randomised strategy (`HEDDLE_BENCH_SEEDS` overrides).
fn seeds() -> u64 {
    std::env::var("HEDDLE_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(31)
}
/// Longest one loom exploration may run.
const LOOM_BUDGET: Duration = Duration::from_secs(60);

/// One classic program: a name, its size, and whether it is the buggy version.
#[derive(Clone, Copy, Debug)]
enum Program {
    /// `n` threads each `load` then `store(v + 1)`; main asserts `n`.
    LostUpdate(usize),
    /// `n` setters store `a = 1` then `b = 1`; one checker started after them reads
    /// `a` then `b` and asserts both 0 or both 1.
    Reorder(usize),
    /// `n` writers: stage 1 sets `data1 = 1` under `m1`, stage 2 sets `data2 = data1 +
    /// 1` under `m2`; a reader started after them asserts `data2 == data1 + 1` when it
    /// sees `data1` set.
    TwoStage(usize),
    /// `n` philosophers take their left fork, then their right one.
    Philosophers(usize),
    /// Two threads take two locks in opposite orders.
    AbBa,
}

impl Program {
    fn name(self) -> String {
        match self {
            Program::LostUpdate(n) => format!("lost update ({n} threads)"),
            Program::Reorder(n) => format!("reorder ({n} setters + checker)"),
            Program::TwoStage(n) => format!("two-stage ({n} writers + reader)"),
            Program::Philosophers(n) => format!("philosophers ({n})"),
            Program::AbBa => "AB-BA".to_string(),
        }
    }

    /// Threads including main.
    fn threads(self) -> usize {
        match self {
            Program::LostUpdate(n) | Program::Philosophers(n) => n + 1,
            Program::Reorder(n) | Program::TwoStage(n) => n + 2,
            Program::AbBa => 3,
        }
    }

    fn loom_can(self) -> bool {
        self.threads() <= loom::MAX_THREADS
    }
}

/// The programs in one tool's dialect: `Atomic`, `Mutex<T>`, `lock(&m)`, `spawn(f)`
/// must be in scope. `fixed` gives the correct version.
macro_rules! programs {
    () => {
        pub fn program(p: super::Program, fixed: bool) -> impl Fn() + Send + Sync + 'static {
            use std::sync::atomic::Ordering::SeqCst;
            use std::sync::Arc;
            move || match p {
                super::Program::LostUpdate(n) => {
                    let c = Arc::new(Atomic::new(0));
                    let ts: Vec<_> = (0..n)
                        .map(|_| {
                            let c = c.clone();
                            spawn(move || {
                                if fixed {
                                    c.fetch_add(1, SeqCst);
                                } else {
                                    let v = c.load(SeqCst);
                                    c.store(v + 1, SeqCst);
                                }
                            })
                        })
                        .collect();
                    for t in ts {
                        t.join().unwrap();
                    }
                    assert_eq!(c.load(SeqCst), n, "an update was lost");
                }
                super::Program::Reorder(n) => {
                    let m = Arc::new(Mutex::new(()));
                    let a = Arc::new(Atomic::new(0));
                    let b = Arc::new(Atomic::new(0));
                    let mut ts: Vec<_> = (0..n)
                        .map(|_| {
                            let (m, a, b) = (m.clone(), a.clone(), b.clone());
                            spawn(move || {
                                let _g = fixed.then(|| lock(&m));
                                a.store(1, SeqCst);
                                b.store(1, SeqCst);
                            })
                        })
                        .collect();
                    ts.push(spawn(move || {
                        let _g = fixed.then(|| lock(&m));
                        let (x, y) = (a.load(SeqCst), b.load(SeqCst));
                        assert_eq!(x, y, "saw one store of a setter and not the other");
                    }));
                    for t in ts {
                        t.join().unwrap();
                    }
                }
                super::Program::TwoStage(n) => {
                    let m1 = Arc::new(Mutex::new(0usize));
                    let m2 = Arc::new(Mutex::new(0usize));
                    let mut ts: Vec<_> = (0..n)
                        .map(|_| {
                            let (m1, m2) = (m1.clone(), m2.clone());
                            spawn(move || {
                                if fixed {
                                    // Both stages under m1: nobody sees one alone.
                                    let mut d1 = lock(&m1);
                                    *d1 = 1;
                                    *lock(&m2) = *d1 + 1;
                                } else {
                                    *lock(&m1) = 1;
                                    let d1 = *lock(&m1);
                                    *lock(&m2) = d1 + 1;
                                }
                            })
                        })
                        .collect();
                    ts.push(spawn(move || {
                        let d1 = lock(&m1);
                        let t1 = *d1;
                        if !fixed {
                            drop(d1);
                        }
                        if t1 != 0 {
                            let t2 = *lock(&m2);
                            assert_eq!(t2, t1 + 1, "read between the two stages");
                        }
                    }));
                    for t in ts {
                        t.join().unwrap();
                    }
                }
                super::Program::Philosophers(n) => {
                    let forks: Arc<Vec<Mutex<usize>>> =
                        Arc::new((0..n).map(|_| Mutex::new(0)).collect());
                    let ts: Vec<_> = (0..n)
                        .map(|i| {
                            let forks = forks.clone();
                            spawn(move || {
                                let (mut l, mut r) = (i, (i + 1) % n);
                                if fixed && i == n - 1 {
                                    std::mem::swap(&mut l, &mut r);
                                }
                                let mut a = lock(&forks[l]);
                                let mut b = lock(&forks[r]);
                                *a += 1;
                                *b += 1;
                            })
                        })
                        .collect();
                    for t in ts {
                        t.join().unwrap();
                    }
                }
                super::Program::AbBa => {
                    let a = Arc::new(Mutex::new(0usize));
                    let b = Arc::new(Mutex::new(0usize));
                    let (a2, b2) = (a.clone(), b.clone());
                    let t = spawn(move || {
                        let mut x = lock(&a2);
                        let mut y = lock(&b2);
                        *x += 1;
                        *y += 1;
                    });
                    {
                        let (first, second) = if fixed { (&a, &b) } else { (&b, &a) };
                        let mut y = lock(first);
                        let mut x = lock(second);
                        *x += 1;
                        *y += 1;
                    }
                    t.join().unwrap();
                }
            }
        }
    };
}

mod on_heddle {
    use heddle::check::AtomicUsize as Atomic;
    use heddle::sync::Lock as Mutex;

    fn lock<T>(m: &Mutex<T>) -> heddle::sync::LockGuard<'_, T> {
        m.lock()
    }

    fn spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> heddle::thread::JoinHandle<T> {
        heddle::thread::Thread::new(f).start()
    }

    programs!();
}

mod on_shuttle {
    use shuttle::sync::atomic::AtomicUsize as Atomic;
    use shuttle::sync::Mutex;

    fn lock<T>(m: &Mutex<T>) -> shuttle::sync::MutexGuard<'_, T> {
        m.lock().unwrap()
    }

    fn spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> shuttle::thread::JoinHandle<T> {
        shuttle::thread::spawn(f)
    }

    programs!();
}

mod on_loom {
    use loom::sync::atomic::AtomicUsize as Atomic;
    use loom::sync::Mutex;

    fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
        m.lock().unwrap()
    }

    fn spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> loom::thread::JoinHandle<T> {
        loom::thread::spawn(f)
    }

    programs!();
}

/// Run `f` with panics kept quiet (shuttle and loom report a failing execution by
/// panicking, which the default hook would print at length), then restore the hook.
fn quietly<R>(f: impl FnOnce() -> R) -> R {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = f();
    std::panic::set_hook(hook);
    r
}

/// heddle: executions until the first failure (`LIMIT` if none).
fn heddle_to_bug(p: Program, checker: heddle::check::Checker) -> usize {
    match checker
        .iterations(LIMIT)
        .explore(on_heddle::program(p, false))
    {
        Ok(_) => LIMIT,
        Err(report) => report.execution(),
    }
}

/// Executions a shuttle or loom run got to before it panicked (`LIMIT` if it did not).
fn counted(run: impl FnOnce(Arc<StdAtomic>)) -> usize {
    let executions = Arc::new(StdAtomic::new(0));
    let e = executions.clone();
    let failed =
        quietly(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(e))).is_err());
    if failed {
        executions.load(Ordering::Relaxed)
    } else {
        LIMIT
    }
}

fn shuttle_to_bug(p: Program, pct: bool, seed: u64) -> usize {
    let limit = LIMIT;
    counted(|executions| {
        let test = on_shuttle::program(p, false);
        let body = move || {
            executions.fetch_add(1, Ordering::Relaxed);
            test();
        };
        let mut config = shuttle::Config::new();
        config.silence_warnings = true;
        config.failure_persistence = shuttle::FailurePersistence::None;
        if pct {
            let s = shuttle::scheduler::PctScheduler::new_from_seed(seed, 3, limit);
            shuttle::Runner::new(s, config).run(body);
        } else {
            let s = shuttle::scheduler::RandomScheduler::new_from_seed(seed, limit);
            shuttle::Runner::new(s, config).run(body);
        }
    })
}

/// Loom's full DPOR on `p`: (executions, whether it finished, wall-clock time).
fn loom_explore(p: Program, fixed: bool) -> (usize, bool, Duration) {
    let executions = Arc::new(StdAtomic::new(0));
    let e = executions.clone();
    let started = Instant::now();
    let failed = quietly(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let test = on_loom::program(p, fixed);
            let mut builder = loom::model::Builder::new();
            builder.preemption_bound = None;
            builder.max_duration = Some(LOOM_BUDGET);
            builder.checkpoint_interval = 1;
            builder.max_branches = 100_000;
            builder.check(move || {
                e.fetch_add(1, Ordering::Relaxed);
                test();
            });
        }))
        .is_err()
    });
    let elapsed = started.elapsed();
    let n = executions.load(Ordering::Relaxed);
    let finished = failed || elapsed < LOOM_BUDGET;
    (n, finished, elapsed)
}

fn median(mut v: Vec<usize>) -> usize {
    v.sort_unstable();
    v[v.len() / 2]
}

fn show(n: usize) -> String {
    if n >= LIMIT {
        format!(">{LIMIT}")
    } else {
        n.to_string()
    }
}

/// Run the classic-programs part of the group.
pub fn run(cfg: &Config, report: &mut Report) {
    let name = "executions to first bug (classic programs)";
    if cfg.selects(name) {
        first_bug(report);
    }
    let name = "DPOR exhaustion vs loom";
    if cfg.selects(name) {
        exhaustion(cfg, report);
    }
}

const BUGGY: [Program; 9] = [
    Program::LostUpdate(2),
    Program::Reorder(3),
    Program::Reorder(5),
    Program::TwoStage(3),
    Program::TwoStage(9),
    Program::Philosophers(3),
    Program::Philosophers(4),
    Program::Philosophers(5),
    Program::AbBa,
];

fn first_bug(report: &mut Report) {
    use heddle::check::Checker;
    let mut lines = vec![format!(
        "executions until the first failure (lower is better; randomised: median of seeds \
         1..={}, same seeds for both tools; >{LIMIT}: not found):\n  {:<34} {:>8} {:>8} {:>8} \
         {:>8} {:>8} | {:>11} {:>11} | {:>6}",
        seeds(),
        "program",
        "default",
        "pos",
        "random",
        "pct3",
        "dpor",
        "shuttle-pct",
        "shuttle-rnd",
        "loom"
    )];
    let mut worst = f64::MIN;
    for p in BUGGY {
        // Alternate the tools seed by seed.
        let (mut def, mut pos, mut rnd, mut pct, mut s_pct, mut s_rnd) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for seed in 1..=seeds() {
            def.push(heddle_to_bug(p, Checker::new().seed(seed)));
            pos.push(heddle_to_bug(p, Checker::pos().seed(seed)));
            s_pct.push(shuttle_to_bug(p, true, seed));
            rnd.push(heddle_to_bug(p, Checker::random().seed(seed)));
            s_rnd.push(shuttle_to_bug(p, false, seed));
            pct.push(heddle_to_bug(p, Checker::pct(3).seed(seed)));
        }
        let dpor = heddle_to_bug(p, Checker::dpor());
        let loom = if p.loom_can() {
            let (n, finished, _) = loom_explore(p, false);
            if finished && n > 0 {
                show(n)
            } else {
                format!(">{n}")
            }
        } else {
            "n/a".to_string()
        };
        let (def, pos, rnd, pct, s_pct, s_rnd) = (
            median(def),
            median(pos),
            median(rnd),
            median(pct),
            median(s_pct),
            median(s_rnd),
        );
        worst = worst.max(def as f64 / s_pct.min(s_rnd) as f64);
        lines.push(format!(
            "  {:<34} {:>8} {:>8} {:>8} {:>8} {:>8} | {:>11} {:>11} | {:>6}",
            p.name(),
            show(def),
            show(pos),
            show(rnd),
            show(pct),
            show(dpor),
            show(s_pct),
            show(s_rnd),
            loom
        ));
    }
    lines.push(format!(
        "  worst ratio of heddle's default (Checker::new) to the better of shuttle's PCT and random: \
         {worst:.2} (<= 1: never needs more executions)"
    ));
    report.note(&lines.join("\n"));
}

const FIXED: [Program; 6] = [
    Program::LostUpdate(3),
    Program::Reorder(3),
    Program::TwoStage(3),
    Program::Philosophers(3),
    Program::Philosophers(4),
    Program::Philosophers(5),
];

fn exhaustion(cfg: &Config, report: &mut Report) {
    use heddle::check::Checker;
    let rounds = if cfg.quick { 1 } else { 3 };
    let mut lines = vec![format!(
        "DPOR exhaustion on the fixed programs: executions and wall-clock time to cover \
         every interleaving (median of {rounds} alternating rounds; lower is better):"
    )];
    for p in FIXED {
        let mut heddle_times = Vec::new();
        let mut loom_times = Vec::new();
        let mut heddle_n = (0, false);
        let mut loom_n = (0, false);
        for _ in 0..rounds {
            let started = Instant::now();
            let c = Checker::dpor()
                .time_budget(LOOM_BUDGET)
                .explore(on_heddle::program(p, true));
            heddle_times.push(started.elapsed());
            heddle_n = match c {
                Ok(c) => (c.executions(), c.is_exhaustive()),
                Err(r) => panic!("a fixed program failed under heddle:\n{r}"),
            };
            if p.loom_can() {
                let (n, finished, t) = loom_explore(p, true);
                loom_times.push(t);
                loom_n = (n, finished);
            }
        }
        heddle_times.sort();
        loom_times.sort();
        let h = heddle_times[heddle_times.len() / 2];
        let mark = |(n, done): (usize, bool)| {
            if done {
                format!("{n}")
            } else {
                format!("{n} (not finished)")
            }
        };
        let loom = if loom_times.is_empty() {
            "loom n/a (more than 5 threads)".to_string()
        } else {
            let l = loom_times[loom_times.len() / 2];
            format!(
                "loom {} executions in {:.1?}; time ratio heddle/loom {:.3}",
                mark(loom_n),
                l,
                h.as_secs_f64() / l.as_secs_f64()
            )
        };
        lines.push(format!(
            "  {:<34} heddle {} executions in {:.1?}; {loom}",
            p.name(),
            mark(heddle_n),
            h
        ));
    }
    report.note(&lines.join("\n"));
}
