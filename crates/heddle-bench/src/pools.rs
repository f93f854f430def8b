//! The `pools` group: heddle's `ThreadPool` and `parallel` against rayon, the
//! `threadpool` crate and Python's `concurrent.futures.ThreadPoolExecutor`.
//!
//! Cases (ns per task or per item, lower is better):
//!
//! * `tiny task submit->result`: submit a tiny task and get its result, in windows of
//!   1024 tasks (submit the window, then take every result), so the figure is the
//!   per-task overhead of the pool with the workers busy. heddle: `submit` +
//!   `Future::result`; `heddle/batch`: `submit_batch` (one allocation and one queue job
//!   per worker for the whole window); rayon: `scope` + `spawn` (the scope body runs on
//!   a worker, so its spawns go to that worker's own deque), each task storing its
//!   value in a slot the caller reads; `rayon/spawn`: `ThreadPool::spawn` from outside
//!   the pool (through its injector queue, as heddle's submit), the last task of a
//!   window signalling the caller; threadpool: `execute` storing into a slot, then
//!   `join`; python: `submit` + `result()`.
//! * `one task round trip`: submit one task and wait for it before the next: the
//!   wake-up latency of an idle pool. rayon: `install`; threadpool: `execute` + a
//!   channel.
//! * `map_chunks collatz, N workers`: the Collatz step count of each of 2^20 numbers
//!   (CPU-bound, uneven per item), ns per item: heddle `parallel::Plan::map_chunks` on
//!   a pool of N workers, rayon `par_iter().map().collect()` on a pool of N threads,
//!   and a sequential loop. The notes give each one's speedup over sequential.
//!
//! Every pool has as many workers as the machine has cores unless the case says
//! otherwise.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::harness::{Case, CaseBuilder, Config, Unit};
use crate::python;
use crate::Report;

const PYTHON_SCRIPT: &str = include_str!("../python/pools.py");

/// Tasks submitted before their results are taken, in the submit->result case.
const WINDOW: u64 = 1024;

/// Items of the map_chunks input.
const ITEMS: usize = 1 << 20;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Run the group: the Python figures first (in their own process), then each case.
pub fn run(cfg: &Config, report: &mut Report) {
    let cores = cores();
    let mut names: Vec<String> = vec![
        "tiny task submit->result".into(),
        "one task round trip".into(),
    ];
    for n in 1..=cores {
        names.push(map_case_name(n));
    }
    let selected: Vec<String> = names.into_iter().filter(|n| cfg.selects(n)).collect();
    if selected.is_empty() {
        report.note("no case matches --filter");
        return;
    }
    report.note(&format!(
        "machine: {cores} cores (available_parallelism); every pool has {cores} workers \
         unless the case says otherwise"
    ));
    let only: Vec<&str> = selected.iter().map(String::as_str).collect();
    let py = match python::run(PYTHON_SCRIPT, cfg, &only) {
        Ok(py) => {
            report.note(&format!(
                "python column: {}, concurrent.futures.ThreadPoolExecutor({cores})",
                py.describe()
            ));
            Some(py)
        }
        Err(msg) => {
            report.note(&msg);
            None
        }
    };
    for name in &selected {
        let mut case = if name == "tiny task submit->result" {
            submit_result(cfg, cores)
        } else if name == "one task round trip" {
            round_trip(cfg, cores)
        } else {
            let workers = (1..=cores)
                .find(|n| map_case_name(*n) == *name)
                .expect("a map case");
            map_chunks(cfg, workers)
        };
        if let Some(py) = &py {
            py.add_to(&mut case);
        }
        report.case(case);
    }
}

fn map_case_name(workers: usize) -> String {
    if workers == 1 {
        "map_chunks collatz, 1 worker".into()
    } else {
        format!("map_chunks collatz, {workers} workers")
    }
}

// ---------------------------------------------------------------------------------
// Per-task overhead

/// `n` tasks in windows of [`WINDOW`]: `window(k)` submits `k` tasks and takes their
/// results.
fn windows(n: u64, mut window: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(WINDOW);
        window(k);
        left -= k;
    }
    start.elapsed()
}

fn submit_result(cfg: &Config, cores: usize) -> Case {
    let heddle = heddle::pool::ThreadPool::builder()
        .workers(cores)
        .name_prefix("bench-heddle")
        .build()
        .expect("heddle pool");
    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(cores)
        .build()
        .expect("rayon pool");
    let tp = threadpool::ThreadPool::new(cores);
    let slots: Arc<Vec<AtomicU64>> = Arc::new((0..WINDOW).map(|_| AtomicU64::new(0)).collect());
    let (s_rayon, s_spawn, s_tp) = (Arc::clone(&slots), Arc::clone(&slots), Arc::clone(&slots));
    let rayon_spawn = &rayon;
    CaseBuilder::new("tiny task submit->result", Unit::NsPerOp)
        .note("ns per task; windows of 1024 tasks: submit all, then take every result")
        .add("heddle", |n| {
            windows(n, |k| {
                let futures: Vec<_> = (0..k)
                    .map(|i| heddle.submit(move || black_box(i)).unwrap())
                    .collect();
                for f in futures {
                    black_box(f.result().unwrap());
                }
            })
        })
        .add("heddle/batch", |n| {
            windows(n, |k| {
                let futures = heddle
                    .submit_batch((0..k).map(|i| move || black_box(i)))
                    .unwrap();
                for f in futures {
                    black_box(f.result().unwrap());
                }
            })
        })
        .add("rayon", |n| {
            windows(n, |k| {
                rayon.scope(|s| {
                    for i in 0..k {
                        let slot = &s_rayon[i as usize];
                        s.spawn(move |_| slot.store(black_box(i), Ordering::Relaxed));
                    }
                });
                for slot in &s_rayon[..k as usize] {
                    black_box(slot.load(Ordering::Relaxed));
                }
            })
        })
        .add("rayon/spawn", |n| {
            windows(n, |k| {
                // `ThreadPool::spawn` from outside the pool ('static tasks through the
                // injector); the last task of the window signals the caller.
                let left = Arc::new(AtomicU64::new(k));
                let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
                for i in 0..k {
                    let (slots, left, done_tx) =
                        (Arc::clone(&s_spawn), Arc::clone(&left), done_tx.clone());
                    rayon_spawn.spawn(move || {
                        slots[i as usize].store(black_box(i), Ordering::Relaxed);
                        if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                            done_tx.send(()).unwrap();
                        }
                    });
                }
                done_rx.recv().unwrap();
                for slot in &s_spawn[..k as usize] {
                    black_box(slot.load(Ordering::Relaxed));
                }
            })
        })
        .add("threadpool", move |n| {
            windows(n, |k| {
                for i in 0..k {
                    let slots = Arc::clone(&s_tp);
                    tp.execute(move || slots[i as usize].store(black_box(i), Ordering::Relaxed));
                }
                tp.join();
                for slot in &s_tp[..k as usize] {
                    black_box(slot.load(Ordering::Relaxed));
                }
            })
        })
        .measure(cfg)
}

fn round_trip(cfg: &Config, cores: usize) -> Case {
    let heddle = heddle::pool::ThreadPool::builder()
        .workers(cores)
        .name_prefix("bench-heddle")
        .build()
        .expect("heddle pool");
    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(cores)
        .build()
        .expect("rayon pool");
    let tp = threadpool::ThreadPool::new(cores);
    CaseBuilder::new("one task round trip", Unit::NsPerOp)
        .note("ns per task; each task is submitted once the previous result is in (idle-pool wake-up)")
        .add_op("heddle", || {
            black_box(heddle.submit(|| black_box(1u64)).unwrap().result().unwrap());
        })
        .add_op("rayon", || {
            black_box(rayon.install(|| black_box(1u64)));
        })
        .add_op("threadpool", || {
            let (tx, rx) = std::sync::mpsc::channel();
            tp.execute(move || tx.send(black_box(1u64)).unwrap());
            black_box(rx.recv().unwrap());
        })
        .measure(cfg)
}

// ---------------------------------------------------------------------------------
// map_chunks

/// The number of Collatz steps from `x` to 1: CPU-bound, a few hundred ns, uneven.
#[inline]
fn collatz(x: u64) -> u32 {
    let mut n = x.max(1);
    let mut steps = 0;
    while n != 1 {
        n = if n & 1 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

/// Process `n` items of `input` (repeating it if `n` is larger) with `f`, which maps
/// a slice to its results.
fn items(input: &[u64], n: u64, mut f: impl FnMut(&[u64]) -> Vec<u32>) -> Duration {
    let start = Instant::now();
    let mut left = n as usize;
    while left > 0 {
        let k = left.min(input.len());
        black_box(f(&input[..k]));
        left -= k;
    }
    start.elapsed()
}

fn map_chunks(cfg: &Config, workers: usize) -> Case {
    let input: Vec<u64> = (1..=ITEMS as u64).collect();
    let heddle = heddle::pool::ThreadPool::builder()
        .workers(workers)
        .name_prefix("bench-parallel")
        .build()
        .expect("heddle pool");
    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("rayon pool");
    let plan = heddle::parallel::Plan::new().pool(&heddle);
    let input = &input;
    let mut case = CaseBuilder::new(&map_case_name(workers), Unit::NsPerOp)
        .note("ns per item: Collatz steps of 1..=2^20, results collected in order")
        .add("heddle", move |n| {
            items(input, n, |slice| {
                plan.map_chunks(slice, |chunk| chunk.iter().map(|&x| collatz(x)).collect())
            })
        })
        .add("rayon", move |n| {
            items(input, n, |slice| {
                rayon.install(|| slice.par_iter().map(|&x| collatz(x)).collect())
            })
        })
        .add("sequential", move |n| {
            items(input, n, |slice| {
                slice.iter().map(|&x| collatz(x)).collect()
            })
        })
        .measure(cfg);
    speedup_notes(&mut case, workers);
    case
}

/// Add each implementation's speedup over `sequential`, and heddle's against rayon's.
fn speedup_notes(case: &mut Case, workers: usize) {
    let figure = |name: &str| {
        case.results
            .iter()
            .find(|f| f.implementation == name && f.value.is_finite())
            .map(|f| f.value)
    };
    let (Some(seq), Some(h), Some(r)) = (figure("sequential"), figure("heddle"), figure("rayon"))
    else {
        return;
    };
    let (sh, sr) = (seq / h, seq / r);
    case.notes.push(format!(
        "speedup over sequential with {workers} worker{}: heddle {sh:.2}x, rayon {sr:.2}x; \
         heddle's speedup is {:.0}% of rayon's",
        if workers == 1 { "" } else { "s" },
        100.0 * sh / sr
    ));
}
