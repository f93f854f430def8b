//! Producer–consumer and the worker pattern on a synchronized `Queue`.
//!
//! The main thread puts jobs on a queue; a fixed set of workers `get` them; each
//! worker calls `task_done` once per job, and the main thread's `join` returns when
//! every job put has been marked done (Python's `queue.Queue.task_done` / `join`).
//! Then `shutdown` ends the workers' `get` loops.
//!
//! **The bug** (`skip-task-done`): a worker that rejects a job (here: a multiple of 7)
//! `continue`s past its `task_done`. The unfinished count never reaches zero, and
//! `join` waits for ever while the workers wait for more jobs: every thread is asleep.
//!
//! **The fix** (`task-done`): mark every job done on every path (a guard, or a
//! `finally` in Python), whether it was processed, rejected or failed.

use std::sync::Arc;
use std::time::Duration;

use heddle::queue::Queue;
use heddle::sync::Lock;

use crate::{join_all, spawn_n, Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check workers`.
///
/// ```
/// let s = &heddle_lab::workers::SCENARIO;
/// assert_eq!(s.name, "workers");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "workers",
    title: "producer-consumer and the worker pattern: Queue with task_done/join",
    python: &[
        "queue.Queue",
        "Queue.put",
        "Queue.get",
        "Queue.task_done",
        "Queue.join",
        "Queue.shutdown",
    ],
    variants: &[
        Variant {
            name: "skip-task-done",
            broken: true,
            summary: "a rejected job skips task_done: join never returns",
            run: |cfg| run(cfg, false),
            check: || check(false),
            exploration: Exploration::new(Strategy::Random, 50),
        },
        Variant {
            name: "task-done",
            broken: false,
            summary: "every job is marked done on every path; join, then shutdown ends the workers",
            run: |cfg| run(cfg, true),
            check: || check(true),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
    ],
};

/// Whether a worker rejects `job` (a multiple of 7).
fn rejected(job: u64) -> bool {
    job.rem_euclid(7) == 0
}

/// A worker: take jobs until the queue shuts down, add the accepted ones to `sum`.
fn worker(jobs: &Queue<u64>, sum: &Lock<u64>, always_done: bool, on_job: impl Fn()) {
    while let Ok(job) = jobs.get() {
        if rejected(job) {
            // Rejected.
            if always_done {
                jobs.task_done().expect("one task_done per get");
            }
            continue;
        }
        *sum.lock() += job;
        on_job();
        jobs.task_done().expect("one task_done per get");
    }
}

const JOBS: usize = 20_000;

fn run(cfg: &Config, always_done: bool) -> Result<String, String> {
    let jobs = Queue::bounded(64);
    let sum = Arc::new(Lock::new(0u64));
    let (q, s, c) = (jobs.clone(), Arc::clone(&sum), cfg.clone());
    let workers = spawn_n("worker", cfg.threads, move |_| {
        worker(&q, &s, always_done, || c.tick())
    });
    let (mut expected, mut n) = (0u64, 0usize);
    while cfg.more(n, JOBS) {
        let job = n as u64 + 1;
        if !rejected(job) {
            expected += job;
        }
        jobs.put(job).map_err(|e| e.to_string())?;
        n += 1;
    }
    // A real run must end: give join a generous limit instead of waiting for ever.
    let joined = jobs.join_timeout(Duration::from_secs(2));
    let unfinished = jobs.unfinished_tasks();
    jobs.shutdown(false);
    join_all(workers)?;
    if !joined {
        return Err(format!(
            "join() never returned: {unfinished} of {n} jobs were never marked done"
        ));
    }
    let got = *sum.lock();
    if got != expected {
        return Err(format!("sum of accepted jobs {got}, expected {expected}"));
    }
    Ok(format!(
        "{n} jobs through {} workers; join returned once every job was done",
        cfg.threads
    ))
}

fn check(always_done: bool) {
    let jobs = Queue::unbounded();
    let sum = Arc::new(Lock::new(0u64));
    let (q, s) = (jobs.clone(), Arc::clone(&sum));
    let workers = spawn_n("worker", 2, move |_| worker(&q, &s, always_done, || {}));
    for job in [5, 7, 9] {
        jobs.put(job).unwrap();
    }
    jobs.join();
    assert_eq!(*sum.lock(), 14, "join returned before every job was done");
    jobs.shutdown(false);
    for w in workers {
        w.join().unwrap();
    }
}
