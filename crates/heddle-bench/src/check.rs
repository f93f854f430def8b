//! The `check` group: heddle's checker against shuttle and loom.
//!
//! Two questions, on the same small tests written for each tool:
//!
//! * **Speed**: how long one execution (one schedule of the test, start to finish)
//!   takes, per strategy: random (heddle, shuttle), PCT (heddle, shuttle) and
//!   systematic (heddle's bounded DFS, shuttle's DFS, loom's DPOR). The harness reports
//!   lower-is-better time units only, so the figure is **ns per execution** (the unit
//!   column says `ns/op`: one op is one execution); executions per second is 10^9
//!   divided by it, and the notes print it.
//! * **Bug-finding power**: executions until PCT first fails on "a worker does k
//!   `fetch_add`s, main fails iff its one read sees exactly k/2", k = 10, 20, 40,
//!   median over 10 seeds, heddle's PCT against shuttle's PCT at the same depth. A
//!   count, not a time, so it is printed as notes (not in the JSON).
//!
//! Every implementation runs the same closure shape: main starts two threads (or one
//! worker), each does the operation, main joins them and asserts. Systematic explorers
//! stop when they have covered every schedule, so their runs repeat the exploration
//! until enough executions have run, and the time is divided by the executions counted.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{Case, CaseBuilder, Config, Unit};
use crate::Report;

/// The tests, each in the three tools' dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    /// Two threads `fetch_add(1)` a shared counter once each; main asserts 2.
    FetchAdd,
    /// Two threads `load` then `store(v + 1)` (the lost update, so it is a racy test:
    /// here only the schedule count matters and a failure ends an exploration, so the
    /// assertion is left out; every execution runs to the end).
    LoadStore,
    /// Two threads each take a mutex twice to increment a counter; main asserts 4.
    Lock,
}

impl Test {
    fn name(self) -> &'static str {
        match self {
            Test::FetchAdd => "fetch_add x2 threads",
            Test::LoadStore => "load+store x2 threads",
            Test::Lock => "mutex x2 threads x2",
        }
    }
}

/// Run the group.
pub fn run(cfg: &Config, report: &mut Report) {
    let mut rates = Vec::new();
    for test in [Test::FetchAdd, Test::LoadStore, Test::Lock] {
        for strategy in ["random", "pct", "dfs"] {
            let name = format!("{}: {strategy} (ns/execution)", test.name());
            if !cfg.selects(&name) {
                continue;
            }
            let case = speed_case(&name, test, strategy).measure(cfg);
            rates.push(rate_line(&case));
            report.case(case);
        }
    }
    if !rates.is_empty() {
        report.note(&format!(
            "the same, in executions per second (higher is better):\n  {}",
            rates.join("\n  ")
        ));
    }
    let name = "executions to first bug (PCT)";
    if cfg.selects(name) {
        bugs_found(cfg, report);
    }
    // Issue 12: the classic buggy programs, and DPOR exhaustion against loom.
    crate::check_classic::run(cfg, report);
}

// ---------------------------------------------------------------------------------------
// Speed

/// A case's figures as executions per second, with heddle's ratio to the best anchor.
fn rate_line(case: &Case) -> String {
    let per_second = |ns: f64| {
        let rate = 1e9 / ns;
        if rate >= 10_000.0 {
            format!("{:.0}k/s", rate / 1000.0)
        } else {
            format!("{rate:.0}/s")
        }
    };
    let mut line = format!("{}:", case.name.trim_end_matches(" (ns/execution)"));
    for f in case.results.iter().filter(|f| f.value.is_finite()) {
        line.push_str(&format!(" {} {},", f.implementation, per_second(f.value)));
    }
    line.pop();
    let heddle = case.results.iter().find(|f| f.implementation == "heddle");
    if let (Some(h), Some(best)) = (heddle, case.best_anchor()) {
        if h.value.is_finite() {
            line.push_str(&format!(
                " (heddle {:.2}x {}'s rate)",
                best.value / h.value,
                best.implementation
            ));
        }
    }
    line
}

fn speed_case<'a>(name: &str, test: Test, strategy: &str) -> CaseBuilder<'a> {
    let case = CaseBuilder::new(name, Unit::NsPerOp);
    match strategy {
        "random" => case
            .add("heddle", move |n| {
                timed(|| {
                    heddle::check::Checker::random()
                        .iterations(n as usize)
                        .run(heddle_test(test))
                })
            })
            .add("shuttle", move |n| {
                let scheduler = shuttle::scheduler::RandomScheduler::new_from_seed(n, n as usize);
                timed(|| shuttle::Runner::new(scheduler, shuttle_config()).run(shuttle_test(test)))
            })
            .note("random: a uniformly random runnable thread at every schedule point"),
        "pct" => case
            .add("heddle", move |n| {
                timed(|| {
                    heddle::check::Checker::pct(3)
                        .iterations(n as usize)
                        .run(heddle_test(test))
                })
            })
            .add("shuttle", move |n| {
                let scheduler = shuttle::scheduler::PctScheduler::new_from_seed(n, 3, n as usize);
                timed(|| shuttle::Runner::new(scheduler, shuttle_config()).run(shuttle_test(test)))
            })
            .note("PCT depth 3"),
        _ => case
            .add("heddle", move |n| {
                repeat_exploration(n, || {
                    heddle::check::Checker::dfs()
                        .run(heddle_test(test))
                        .executions()
                })
            })
            .add("shuttle", move |n| {
                repeat_exploration(n, || {
                    let scheduler = shuttle::scheduler::DfsScheduler::new(None, false);
                    shuttle::Runner::new(scheduler, shuttle_config()).run(shuttle_test(test))
                })
            })
            .add("loom", move |n| {
                repeat_exploration(n, || {
                    let executions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                    let counted = Arc::clone(&executions);
                    let test = loom_test(test);
                    let mut builder = loom::model::Builder::new();
                    builder.preemption_bound = Some(2);
                    builder.check(move || {
                        counted.fetch_add(1, Ordering::Relaxed);
                        test();
                    });
                    executions.load(Ordering::Relaxed)
                })
            })
            .note(
                "systematic: heddle DFS and loom with at most 2 preemptions, shuttle DFS \
                 unbounded; each explores to the end and the time is per execution",
            ),
    }
}

/// Time one call.
fn timed<R>(f: impl FnOnce() -> R) -> Duration {
    let start = Instant::now();
    std::hint::black_box(f());
    start.elapsed()
}

/// Run whole explorations (each returns how many executions it ran) until at least `n`
/// executions have run; the time, scaled to exactly `n` executions.
fn repeat_exploration(n: u64, mut explore: impl FnMut() -> usize) -> Duration {
    let start = Instant::now();
    let mut done = 0u64;
    while done < n {
        done += explore().max(1) as u64;
    }
    start.elapsed().mul_f64(n as f64 / done as f64)
}

fn heddle_test(test: Test) -> impl Fn() + Send + Sync + 'static {
    use heddle::check::AtomicUsize;
    use heddle::sync::Lock;
    use heddle::thread::Thread;
    move || match test {
        Test::FetchAdd | Test::LoadStore => {
            let counter = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let c = Arc::clone(&counter);
                    Thread::new(move || {
                        if test == Test::FetchAdd {
                            c.fetch_add(1, Ordering::SeqCst);
                        } else {
                            let v = c.load(Ordering::SeqCst);
                            c.store(v + 1, Ordering::SeqCst);
                        }
                    })
                    .start()
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let total = counter.load(Ordering::SeqCst);
            if test == Test::FetchAdd {
                assert_eq!(total, 2);
            }
        }
        Test::Lock => {
            let lock = Arc::new(Lock::new(0));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let l = Arc::clone(&lock);
                    Thread::new(move || {
                        for _ in 0..2 {
                            *l.lock() += 1;
                        }
                    })
                    .start()
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(*lock.lock(), 4);
        }
    }
}

fn shuttle_config() -> shuttle::Config {
    let mut config = shuttle::Config::new();
    config.silence_warnings = true;
    config.failure_persistence = shuttle::FailurePersistence::None;
    config
}

fn shuttle_test(test: Test) -> impl Fn() + Send + Sync + 'static {
    use shuttle::sync::atomic::AtomicUsize;
    use shuttle::sync::Mutex;
    use shuttle::thread;
    move || match test {
        Test::FetchAdd | Test::LoadStore => {
            let counter = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let c = Arc::clone(&counter);
                    thread::spawn(move || {
                        if test == Test::FetchAdd {
                            c.fetch_add(1, Ordering::SeqCst);
                        } else {
                            let v = c.load(Ordering::SeqCst);
                            c.store(v + 1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let total = counter.load(Ordering::SeqCst);
            if test == Test::FetchAdd {
                assert_eq!(total, 2);
            }
        }
        Test::Lock => {
            let lock = Arc::new(Mutex::new(0));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let l = Arc::clone(&lock);
                    thread::spawn(move || {
                        for _ in 0..2 {
                            *l.lock().unwrap() += 1;
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(*lock.lock().unwrap(), 4);
        }
    }
}

fn loom_test(test: Test) -> impl Fn() + Send + Sync + 'static {
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::{Arc, Mutex};
    use loom::thread;
    move || match test {
        Test::FetchAdd | Test::LoadStore => {
            let counter = Arc::new(AtomicUsize::new(0));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let c = Arc::clone(&counter);
                    thread::spawn(move || {
                        if test == Test::FetchAdd {
                            c.fetch_add(1, Ordering::SeqCst);
                        } else {
                            let v = c.load(Ordering::SeqCst);
                            c.store(v + 1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            let total = counter.load(Ordering::SeqCst);
            if test == Test::FetchAdd {
                assert_eq!(total, 2);
            }
        }
        Test::Lock => {
            let lock = Arc::new(Mutex::new(0));
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let l = Arc::clone(&lock);
                    thread::spawn(move || {
                        for _ in 0..2 {
                            *l.lock().unwrap() += 1;
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(*lock.lock().unwrap(), 4);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Bug-finding power

/// Seeds per (tool, k); the figure is the median.
const SEEDS: u64 = 10;
/// Give up after this many executions (reported as "> LIMIT").
const LIMIT: usize = 100_000;

fn bugs_found(cfg: &Config, report: &mut Report) {
    let _ = cfg;
    let mut lines = vec![format!(
        "executions until PCT first fails on \"a worker does k fetch_adds, main fails iff \
         it reads exactly k/2\" (same seeds 1..={SEEDS} for both tools); median [min..max] over \
         the seeds, lower is better; ratio = heddle / shuttle:"
    )];
    for depth in [2, 3] {
        for k in [10, 20, 40] {
            let heddle: Vec<usize> = (0..SEEDS).map(|s| heddle_to_bug(k, depth, 1 + s)).collect();
            let shuttle: Vec<usize> = (0..SEEDS)
                .map(|s| shuttle_to_bug(k, depth, 1 + s))
                .collect();
            let (h, s) = (median(&heddle), median(&shuttle));
            lines.push(format!(
                "  depth {depth}, k = {k:>2}: heddle {:>6} {:<14} shuttle {:>6} {:<14} ratio {:.2}",
                show(h),
                range(&heddle),
                show(s),
                range(&shuttle),
                h as f64 / s as f64
            ));
        }
    }
    report.note(&lines.join("\n"));
}

fn show(n: usize) -> String {
    if n >= LIMIT {
        format!(">{LIMIT}")
    } else {
        n.to_string()
    }
}

fn range(v: &[usize]) -> String {
    let (lo, hi) = (v.iter().min().unwrap(), v.iter().max().unwrap());
    format!("[{}..{}]", show(*lo), show(*hi))
}

fn median(v: &[usize]) -> usize {
    let mut v = v.to_vec();
    v.sort_unstable();
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2
    }
}

fn heddle_to_bug(k: usize, depth: usize, seed: u64) -> usize {
    use heddle::check::{AtomicUsize, Checker};
    use heddle::thread::Thread;
    let result = Checker::pct(depth)
        .seed(seed)
        .iterations(LIMIT)
        .explore(move || {
            let counter = Arc::new(AtomicUsize::new(0));
            let c = Arc::clone(&counter);
            let worker = Thread::new(move || {
                for _ in 0..k {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            })
            .start();
            let seen = counter.load(Ordering::SeqCst);
            worker.join().unwrap();
            assert_ne!(seen, k / 2, "main read exactly k/2");
        });
    match result {
        Ok(_) => LIMIT,
        Err(report) => report.execution(),
    }
}

fn shuttle_to_bug(k: usize, depth: usize, seed: u64) -> usize {
    use shuttle::sync::atomic::AtomicUsize;
    // The closure records the bug instead of panicking, and the scheduler is told to
    // stop: shuttle prints a replay message for every panic, which would be 60 lines
    // of noise here, and the count is the same.
    let found = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let executions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (f, e) = (Arc::clone(&found), Arc::clone(&executions));
    let scheduler = StopWhenFound {
        inner: shuttle::scheduler::PctScheduler::new_from_seed(seed, depth, LIMIT),
        found: Arc::clone(&found),
    };
    shuttle::Runner::new(scheduler, shuttle_config()).run(move || {
        let n = e.fetch_add(1, Ordering::Relaxed) + 1;
        let counter = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&counter);
        let worker = shuttle::thread::spawn(move || {
            for _ in 0..k {
                c.fetch_add(1, Ordering::SeqCst);
            }
        });
        let seen = counter.load(Ordering::SeqCst);
        worker.join().unwrap();
        if seen == k / 2 {
            let _ = f.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed);
        }
    });
    match found.load(Ordering::Relaxed) {
        0 => LIMIT,
        n => n,
    }
}

/// A shuttle scheduler that ends the run once the test has seen its bug.
struct StopWhenFound<S> {
    inner: S,
    found: Arc<std::sync::atomic::AtomicUsize>,
}

impl<S: shuttle::scheduler::Scheduler> shuttle::scheduler::Scheduler for StopWhenFound<S> {
    fn new_execution(&mut self) -> Option<shuttle::scheduler::Schedule> {
        if self.found.load(Ordering::Relaxed) != 0 {
            return None;
        }
        self.inner.new_execution()
    }

    fn next_task(
        &mut self,
        runnable: &[&shuttle::scheduler::Task],
        current: Option<shuttle::scheduler::TaskId>,
        is_yielding: bool,
    ) -> Option<shuttle::scheduler::TaskId> {
        self.inner.next_task(runnable, current, is_yielding)
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }
}
