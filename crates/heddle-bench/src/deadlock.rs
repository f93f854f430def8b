//! The `deadlock` group: what heddle's always-on deadlock detection costs, and how soon
//! it reports, against the Rust tools that detect deadlocks.
//!
//! * **std** `Mutex`: no detection at all, the baseline the bar is set against
//!   (uncontended `Lock` within 1.2x of it).
//! * **parking_lot/dd**: parking_lot with its `deadlock_detection` feature. Every lock and
//!   unlock records the resource in a per-thread list; a deadlock is only found when
//!   something calls `parking_lot::deadlock::check_deadlock()` (its docs poll from a
//!   background thread every 10 s). Taken from parking_lot 0.13 so that the feature
//!   does not leak into the parking_lot 0.12 of the other groups (see Cargo.toml).
//! * **tracing-mutex**: lock-order checking on every acquisition made while holding
//!   another lock (a global dependency graph behind a mutex), always on: the anchor for
//!   heddle's opt-in lock-order mode (bar: within tracing-mutex's cost).
//!
//! Cases report ns/op (lower is better). The latency cases' "op" is one detected
//! deadlock and its figure the time from the call that closes it to the report
//! (heddle's promise: within 10 ms). A lock cycle is found synchronously, in
//! microseconds; an all-asleep deadlock (owner-less waits: here two semaphores) is
//! checked by a sleeper after 1 ms asleep, so about a millisecond. That case runs each
//! deadlock in a child process (this binary, [`ALL_ASLEEP_CHILD`]): all-asleep is
//! reported only when every thread of the process is in an untimed heddle wait, and the
//! harness's watchdog thread never is. No Rust tool detects it to compare against.

use std::cell::Cell;
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier as StdBarrier, Mutex, PoisonError};
use std::time::{Duration, Instant};

use heddle::deadlock::{self, Action};
use heddle::sync::{Lock, RLock};

use crate::harness::{Case, CaseBuilder, Config, Unit};
use crate::Report;

type TracingMutex<T> = tracing_mutex::stdsync::tracing::Mutex<T>;
type DdMutex<T> = parking_lot_dd::Mutex<T>;

/// A case: measures heddle and its anchors and returns their figures.
type CaseFn = fn(&Config) -> Case;

/// Run the group.
pub fn run(cfg: &Config, report: &mut Report) {
    let cases: &[(&str, CaseFn)] = &[
        ("lock uncontended", lock_uncontended),
        ("nested A->B uncontended", nested_uncontended),
        ("lock contended 2 threads", lock_contended),
        ("lock-order mode: lock uncontended", order_lock_uncontended),
        (
            "lock-order mode: nested A->B uncontended",
            order_nested_uncontended,
        ),
        ("report latency AB-BA", report_latency),
        ("report latency all asleep", all_asleep_latency),
    ];
    let selected: Vec<_> = cases.iter().filter(|(name, _)| cfg.selects(name)).collect();
    if selected.is_empty() {
        report.note("no case matches --filter");
        return;
    }
    report.note(
        "heddle's cycle detection is always on (there is no switch); parking_lot/dd = \
         parking_lot 0.13 with deadlock_detection; tracing-mutex = its always-tracing \
         Mutex (stdsync::tracing), without backtraces",
    );
    for (name, case) in selected {
        let case = case(cfg);
        debug_assert_eq!(case.name, *name);
        report.case(case);
    }
}

/// Add a note with `heddle_impl`'s ratio to `anchor` and the bar it must meet.
fn ratio_note(mut case: Case, heddle_impl: &str, anchor: &str, bar: f64) -> Case {
    let value = |name: &str| {
        case.results
            .iter()
            .find(|f| f.implementation == name && f.value.is_finite())
            .map(|f| f.value)
    };
    if let (Some(h), Some(a)) = (value(heddle_impl), value(anchor)) {
        let ratio = h / a;
        let verdict = if ratio <= bar { "meets" } else { "MISSES" };
        case.notes.push(format!(
            "{heddle_impl} / {anchor} = {ratio:.2}x; bar <= {bar:.2}x: {verdict} it"
        ));
    }
    case
}

// ---------------------------------------------------------------------------------
// Uncontended and nested: the fast path with detection on.

fn lock_uncontended(cfg: &Config) -> Case {
    let h = Lock::new(0u64);
    let s = Mutex::new(0u64);
    let d = DdMutex::new(0u64);
    let t = TracingMutex::new(0u64);
    let case = CaseBuilder::new("lock uncontended", Unit::NsPerOp)
        .note("one lock + unlock; heddle = Lock, cycle detection on (always)")
        .add_op("heddle", || *black_box(&h).lock() += 1)
        .add_op("std", || *black_box(&s).lock().unwrap() += 1)
        .add_op("parking_lot/dd", || *black_box(&d).lock() += 1)
        .add_op("tracing-mutex", || *black_box(&t).lock().unwrap() += 1)
        .measure(cfg);
    ratio_note(case, "heddle", "std", 1.2)
}

fn nested_uncontended(cfg: &Config) -> Case {
    let (ha, hb) = (Lock::new(0u64), Lock::new(0u64));
    let (sa, sb) = (Mutex::new(0u64), Mutex::new(0u64));
    let (da, db) = (DdMutex::new(0u64), DdMutex::new(0u64));
    let (ta, tb) = (TracingMutex::new(0u64), TracingMutex::new(0u64));
    let case = CaseBuilder::new("nested A->B uncontended", Unit::NsPerOp)
        .note("take A, then B while holding A; release both (one op = both pairs)")
        .add_op("heddle", || {
            let mut a = black_box(&ha).lock();
            let mut b = black_box(&hb).lock();
            *a += 1;
            *b += 1;
        })
        .add_op("std", || {
            let mut a = black_box(&sa).lock().unwrap();
            let mut b = black_box(&sb).lock().unwrap();
            *a += 1;
            *b += 1;
        })
        .add_op("parking_lot/dd", || {
            let mut a = black_box(&da).lock();
            let mut b = black_box(&db).lock();
            *a += 1;
            *b += 1;
        })
        .add_op("tracing-mutex", || {
            let mut a = black_box(&ta).lock().unwrap();
            let mut b = black_box(&tb).lock().unwrap();
            *a += 1;
            *b += 1;
        })
        .measure(cfg);
    ratio_note(case, "heddle", "std", 1.2)
}

// ---------------------------------------------------------------------------------
// Contended: the slow path, where heddle registers every wait with the cycle detector.

/// How long the threads of one multi-threaded run may take before it is declared stuck.
const STUCK_AFTER: Duration = Duration::from_secs(10);

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// Run `body(thread_index, iterations)` on `threads` threads started together; return
/// the span from the earliest start to the latest end. Panics if they are stuck.
fn on_threads(
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
                "stuck: {} of {threads} threads still running after {}s",
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

/// `total` operations split over two threads, scaled so that dividing by `total` gives
/// ns per operation.
fn split_over_two(total: u64, body: impl Fn(usize, u64) + Send + Sync + 'static) -> Duration {
    let per = (total / 2).max(1);
    let elapsed = on_threads(2, per, body);
    elapsed.mul_f64(total as f64 / (2 * per) as f64)
}

fn lock_contended(cfg: &Config) -> Case {
    let h = leak(Lock::new(0u64));
    let s = leak(Mutex::new(0u64));
    let d = leak(DdMutex::new(0u64));
    let t = leak(TracingMutex::new(0u64));
    CaseBuilder::new("lock contended 2 threads", Unit::NsPerOp)
        .note("two threads increment one counter; every heddle wait registers with the cycle detector")
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
        .add("parking_lot/dd", |n| {
            split_over_two(n, move |_, per| {
                for _ in 0..per {
                    *black_box(d).lock() += 1;
                }
            })
        })
        .add("tracing-mutex", |n| {
            split_over_two(n, move |_, per| {
                for _ in 0..per {
                    *black_box(t).lock().unwrap() += 1;
                }
            })
        })
        .measure(cfg)
}

// ---------------------------------------------------------------------------------
// Lock-order mode against tracing-mutex.

/// Time `iters` calls of `op` with heddle's lock-order mode on (off again afterwards,
/// so the other implementations of the case run as usual).
fn with_lock_order(iters: u64, op: &mut impl FnMut()) -> Duration {
    deadlock::enable_lock_order(true);
    let start = Instant::now();
    for _ in 0..iters {
        op();
    }
    let elapsed = start.elapsed();
    deadlock::enable_lock_order(false);
    elapsed
}

fn order_lock_uncontended(cfg: &Config) -> Case {
    let h = Lock::new(0u64);
    let t = TracingMutex::new(0u64);
    let mut lock_h = || *black_box(&h).lock() += 1;
    let case = CaseBuilder::new("lock-order mode: lock uncontended", Unit::NsPerOp)
        .note("heddle/lock-order = enable_lock_order(true); heddle = mode off, for reference")
        .add("heddle/lock-order", move |n| {
            with_lock_order(n, &mut lock_h)
        })
        .add_op("heddle", || *black_box(&h).lock() += 1)
        .add_op("tracing-mutex", || *black_box(&t).lock().unwrap() += 1)
        .measure(cfg);
    ratio_note(case, "heddle/lock-order", "tracing-mutex", 1.0)
}

fn order_nested_uncontended(cfg: &Config) -> Case {
    let (ha, hb) = (Lock::new(0u64), Lock::new(0u64));
    let (ta, tb) = (TracingMutex::new(0u64), TracingMutex::new(0u64));
    let nested_h = || {
        let mut a = black_box(&ha).lock();
        let mut b = black_box(&hb).lock();
        *a += 1;
        *b += 1;
    };
    let mut ordered_h = nested_h;
    let case = CaseBuilder::new("lock-order mode: nested A->B uncontended", Unit::NsPerOp)
        .note("take A, then B while holding A (an edge A->B every time); release both")
        .add("heddle/lock-order", move |n| {
            with_lock_order(n, &mut ordered_h)
        })
        .add_op("heddle", nested_h)
        .add_op("tracing-mutex", || {
            let mut a = black_box(&ta).lock().unwrap();
            let mut b = black_box(&tb).lock().unwrap();
            *a += 1;
            *b += 1;
        })
        .measure(cfg);
    ratio_note(case, "heddle/lock-order", "tracing-mutex", 1.0)
}

// ---------------------------------------------------------------------------------
// Report latency: from the lock call that closes an AB-BA cycle to the report.

/// Real deadlocks per heddle or tracing-mutex run (each costs two thread wake-ups and
/// barrier rounds beyond the latency measured); the time is scaled to the asked count.
const LATENCY_ROUNDS: u64 = 200;

thread_local! {
    /// When this thread called the lock that may close the cycle.
    static CALLED_AT: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The RLock this thread holds while it waits for the other (heddle).
    static HOLDING: Cell<Option<&'static RLock<()>>> = const { Cell::new(None) };
}

/// Nanoseconds of report latency summed over a run.
static LATENCY_NS: AtomicU64 = AtomicU64::new(0);
/// Reports seen in a run.
static REPORTS: AtomicU64 = AtomicU64::new(0);

fn record_latency(now: Instant) {
    let called = CALLED_AT.with(Cell::get).expect("the lock call was timed");
    LATENCY_NS.fetch_add(
        now.duration_since(called).as_nanos() as u64,
        Ordering::Relaxed,
    );
    REPORTS.fetch_add(1, Ordering::Relaxed);
}

/// Scale the latency summed over `done` deadlocks to `iters` operations.
fn scaled(done: u64, iters: u64) -> Duration {
    let reports = REPORTS.swap(0, Ordering::Relaxed);
    let ns = LATENCY_NS.swap(0, Ordering::Relaxed);
    assert_eq!(reports, done, "one report per deadlock");
    Duration::from_nanos(ns).mul_f64(iters as f64 / done as f64)
}

/// heddle: two threads each hold one `RLock` and take the other's. The thread whose
/// lock call closes the cycle gets the report (`Action::Callback`) before it sleeps;
/// the callback notes the time and releases that thread's first lock (it is the
/// owner), which breaks the cycle, so both threads finish and the next round starts.
/// (`RLock` for its `release`; it is the same lock word and detector as `Lock`.)
fn heddle_latency(iters: u64) -> Duration {
    let rounds = iters.clamp(1, LATENCY_ROUNDS);
    deadlock::set_action(Action::Callback(Arc::new(|_report| {
        record_latency(Instant::now());
        let mine = HOLDING.with(Cell::get).expect("the closer holds a lock");
        mine.release().expect("the closer owns its first lock");
    })));
    let a: &'static RLock<()> = leak(RLock::new(()));
    let b: &'static RLock<()> = leak(RLock::new(()));
    let meet = Arc::new(StdBarrier::new(2));
    let threads: Vec<_> = [(a, b), (b, a)]
        .into_iter()
        .map(|(first, second)| {
            let meet = meet.clone();
            std::thread::spawn(move || {
                for _ in 0..rounds {
                    first.acquire();
                    HOLDING.with(|h| h.set(Some(first)));
                    meet.wait();
                    CALLED_AT.with(|c| c.set(Some(Instant::now())));
                    let second_guard = second.lock();
                    if first.is_owned_by_current_thread() {
                        // Not the closer: the other's callback let us through.
                        first.release().unwrap();
                    }
                    drop(second_guard);
                    meet.wait();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a latency thread panicked");
    }
    deadlock::set_action(Action::Panic);
    scaled(rounds, iters)
}

/// tracing-mutex: the same AB-BA; the thread whose acquisition closes the cycle in the
/// dependency graph gets the report before it blocks (its cycle handler notes the time,
/// then panics so that the thread backs off, releasing its first lock).
fn tracing_mutex_latency(iters: u64) -> Duration {
    let rounds = iters.clamp(1, LATENCY_ROUNDS);
    tracing_mutex::util::set_cycle_handler(|_message: &str| {
        record_latency(Instant::now());
        std::panic::panic_any(BackOff);
    });
    let a: &'static TracingMutex<()> = leak(TracingMutex::new(()));
    let b: &'static TracingMutex<()> = leak(TracingMutex::new(()));
    let meet = Arc::new(StdBarrier::new(2));
    let threads: Vec<_> = [(a, b), (b, a)]
        .into_iter()
        .map(|(first, second)| {
            let meet = meet.clone();
            std::thread::spawn(move || {
                for _ in 0..rounds {
                    let first_guard = first.lock().unwrap_or_else(PoisonError::into_inner);
                    meet.wait();
                    CALLED_AT.with(|c| c.set(Some(Instant::now())));
                    let got = std::panic::catch_unwind(|| {
                        drop(second.lock().unwrap_or_else(PoisonError::into_inner));
                    });
                    if let Err(payload) = got {
                        if !payload.is::<BackOff>() {
                            std::panic::resume_unwind(payload);
                        }
                    }
                    drop(first_guard);
                    meet.wait();
                }
            })
        })
        .collect();
    let outcome: Vec<_> = threads.into_iter().map(|t| t.join()).collect();
    tracing_mutex::util::reset_cycle_handler();
    for o in outcome {
        o.expect("a latency thread panicked");
    }
    scaled(rounds, iters)
}

/// The payload tracing-mutex's cycle handler panics with, to make the thread back off.
struct BackOff;

/// parking_lot/dd: a real AB-BA deadlock (parking_lot cannot break one: those two
/// threads stay parked for the rest of the bench), found by a thread that calls
/// `check_deadlock()` in a tight loop, the best case (its docs poll every 10 s). The
/// latency counts from the later of the two lock calls (the one closing the cycle) to
/// `check_deadlock()` returning it, which includes the backtraces it collects.
fn parking_lot_latency(iters: u64) -> Duration {
    let a: &'static DdMutex<()> = leak(DdMutex::new(()));
    let b: &'static DdMutex<()> = leak(DdMutex::new(()));
    let meet = Arc::new(StdBarrier::new(2));
    let called: &'static Mutex<Vec<Instant>> = leak(Mutex::new(Vec::new()));
    for (first, second) in [(a, b), (b, a)] {
        let meet = meet.clone();
        std::thread::spawn(move || {
            let _first = first.lock();
            meet.wait();
            called.lock().unwrap().push(Instant::now());
            let _second = second.lock();
            unreachable!("a parking_lot deadlock is permanent");
        });
    }
    let deadline = Instant::now() + STUCK_AFTER;
    let found = loop {
        let found = parking_lot_dd::deadlock::check_deadlock();
        if !found.is_empty() {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "check_deadlock() never found the cycle"
        );
    };
    let closed = *called
        .lock()
        .unwrap()
        .iter()
        .max()
        .expect("both lock calls timed");
    found.duration_since(closed).mul_f64(iters as f64)
}

fn report_latency(cfg: &Config) -> Case {
    // tracing-mutex's back-off panics are expected: keep the hook from printing them.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if !info.payload().is::<BackOff>() {
            eprintln!("heddle-bench: panic: {info}");
        }
    }));
    // No warm-up: parking_lot/dd's runs leave their deadlocked threads parked.
    let case = CaseBuilder::new("report latency AB-BA", Unit::NsPerOp)
        .without_warm_up()
        .note("ns from the lock call that closes the cycle to the report; heddle's bar: 10 ms")
        .note(
            "heddle: Action::Callback in the closing thread; tracing-mutex: its cycle \
             handler (an order check, before blocking); parking_lot/dd: check_deadlock() \
             polled in a tight loop, one real deadlock per run (its threads stay parked)",
        )
        .add("heddle", heddle_latency)
        .add("tracing-mutex", tracing_mutex_latency)
        .add("parking_lot/dd", parking_lot_latency)
        .measure(cfg);
    std::panic::set_hook(hook);
    let mut case = case;
    if let Some(h) = case.results.iter().find(|f| f.implementation == "heddle") {
        if h.value.is_finite() {
            let verdict = if h.value <= 10e6 { "meets" } else { "MISSES" };
            case.notes.push(format!(
                "heddle reported {:.1} us after the cycle closed; bar <= 10 ms: {verdict} it",
                h.value / 1e3
            ));
        }
    }
    case
}

// ---------------------------------------------------------------------------------
// All-asleep latency: two threads wait on semaphores nobody will release.

/// The hidden first argument that makes this binary one all-asleep deadlock.
pub const ALL_ASLEEP_CHILD: &str = "__all-asleep-child";

/// The child: a heddle thread waits on one empty semaphore, then the main thread on
/// another; the report's callback prints the nanoseconds since the main thread began
/// its wait (the moment the deadlock is complete) and ends the process.
pub fn all_asleep_child() -> ExitCode {
    use heddle::sync::{Event, Semaphore};
    use std::sync::OnceLock;
    static LAST_BLOCKED: OnceLock<Instant> = OnceLock::new();
    deadlock::set_action(Action::Callback(Arc::new(|_report| {
        let since = LAST_BLOCKED.get().map(Instant::elapsed);
        match since {
            Some(d) => println!("{}", d.as_nanos()),
            None => println!("early"),
        }
        std::process::exit(0);
    })));
    let first = Arc::new(Semaphore::new(0));
    let started = Arc::new(Event::new());
    let worker = {
        let (first, started) = (first.clone(), started.clone());
        heddle::thread::Thread::new(move || {
            started.set();
            let _never = first.acquire();
        })
        .start()
    };
    started.wait();
    // The worker may not be asleep yet; the report still needs both, so the figure
    // only includes the wait for the worker when it was slower than this thread.
    let second = Semaphore::new(0);
    let _ = LAST_BLOCKED.set(Instant::now());
    let _never = second.acquire();
    let _ = worker.join();
    println!("no report");
    ExitCode::FAILURE
}

/// Run `iters` all-asleep deadlocks, each in a child process, and sum their latency.
fn heddle_all_asleep(iters: u64) -> Duration {
    let rounds = iters.clamp(1, 10);
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut total = Duration::ZERO;
    for _ in 0..rounds {
        let out = std::process::Command::new(&exe)
            .arg(ALL_ASLEEP_CHILD)
            .output()
            .expect("run the all-asleep child");
        let text = String::from_utf8_lossy(&out.stdout);
        // Both sleepers may report before the first one's exit ends the process.
        let first_line = text.lines().next().unwrap_or("");
        let ns: u64 = first_line
            .parse()
            .unwrap_or_else(|_| panic!("all-asleep child: {:?}", text.trim()));
        total += Duration::from_nanos(ns);
    }
    total.mul_f64(iters as f64 / rounds as f64)
}

fn all_asleep_latency(cfg: &Config) -> Case {
    let mut case = CaseBuilder::new("report latency all asleep", Unit::NsPerOp)
        .note(
            "ns from the last thread's Semaphore::acquire to the report (Action::Callback); \
             one deadlock per child process; heddle's bar: 10 ms",
        )
        .add("heddle", heddle_all_asleep)
        .measure(cfg);
    if let Some(h) = case.results.iter().find(|f| f.implementation == "heddle") {
        if h.value.is_finite() {
            let verdict = if h.value <= 10e6 { "meets" } else { "MISSES" };
            case.notes.push(format!(
                "heddle reported {:.2} ms after every thread was asleep; bar <= 10 ms: \
                 {verdict} it",
                h.value / 1e6
            ));
        }
    }
    case
}
