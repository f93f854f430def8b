//! The `processes` group: heddle's processes against Python's `multiprocessing` and
//! `ProcessPoolExecutor` (run by `python/processes.py`, with the "fork" start method).
//!
//! Cases (ns per task, round trip, process or item; lower is better):
//!
//! * `pool map, chunksize 1` / `pool map, chunksize 100`: a trivial task mapped over
//!   the inputs by a pool of one worker process per core, created once: heddle
//!   `ProcessPool::map(f, 0..n, c)`; python `ProcessPoolExecutor.map(f, range(n),
//!   chunksize=c)`.
//! * `queue round trip`: put an item on a queue to an echo child, get it back from a
//!   second queue: heddle `ProcessQueue` (and `heddle/pipe`: one duplex `Pipe`); python
//!   `multiprocessing.Queue`.
//! * `process start + join`: start a child that does nothing and join it: heddle
//!   `Process::new(noop, ()).start()?.join()` (this executable started again);
//!   python `Process(target=noop)` with fork.
//! * `3-stage pipeline`: the courses' DataPipeline, ns per item (at least 20,000 items
//!   a run, the start of the processes included): heddle `Pipeline` with three process
//!   stages; `heddle/by-hand`: three `Process`es and two bounded `ProcessQueue`s, one
//!   item per message, as the Python version; python: three `multiprocessing.Process`es
//!   and two `multiprocessing.Queue(100)`s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use heddle::pipeline::Pipeline;
use heddle::process::{Pipe, Process, ProcessPool, ProcessQueue};

use crate::harness::{CaseBuilder, Config, Unit};
use crate::python;
use crate::Report;

const PYTHON_SCRIPT: &str = include_str!("../python/processes.py");
const PIPELINE_ITEMS: u64 = 20_000;

fn tiny(x: u64) -> u64 {
    x
}

fn noop(_: ()) {}

fn echo_queues((inq, outq): (ProcessQueue<Option<u64>>, ProcessQueue<Option<u64>>)) {
    while let Ok(Some(x)) = inq.get() {
        outq.put(&Some(x)).unwrap();
    }
}

fn echo_pipe(end: Pipe<u64>) {
    while let Ok(x) = end.recv() {
        if end.send(&x).is_err() {
            return;
        }
    }
}

fn read_stage(x: u64) -> u64 {
    x
}

fn transform(x: u64) -> u64 {
    x * 2 + 1
}

fn write_stage(x: u64) -> u64 {
    black_box(x)
}

type Items = ProcessQueue<Option<u64>>;

fn reader((q, n): (Items, u64)) {
    for i in 0..n {
        q.put(&Some(i)).unwrap();
    }
    q.put(&None).unwrap();
}

fn processor((inq, outq): (Items, Items)) {
    while let Some(x) = inq.get().unwrap() {
        outq.put(&Some(x * 2 + 1)).unwrap();
    }
    outq.put(&None).unwrap();
}

fn writer(q: Items) -> u64 {
    let mut n = 0;
    while q.get().unwrap().is_some() {
        n += 1;
    }
    n
}

heddle::process::register!(
    tiny,
    noop,
    echo_queues,
    echo_pipe,
    read_stage,
    transform,
    write_stage,
    reader,
    processor,
    writer
);

const CASES: &[&str] = &[
    "pool map, chunksize 1",
    "pool map, chunksize 100",
    "queue round trip",
    "process start + join",
    "3-stage pipeline",
];

/// Run the group: the Python figures first (in their own process), then each case.
pub fn run(cfg: &Config, report: &mut Report) {
    let selected: Vec<&str> = CASES.iter().copied().filter(|n| cfg.selects(n)).collect();
    if selected.is_empty() {
        report.note("no case matches --filter");
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    report.note(&format!(
        "machine: {cores} cores; pools have {cores} worker processes"
    ));
    let py = match python::run(PYTHON_SCRIPT, cfg, &selected) {
        Ok(py) => {
            report.note(&format!(
                "python column: {}, multiprocessing with fork",
                py.describe()
            ));
            Some(py)
        }
        Err(msg) => {
            report.note(&msg);
            None
        }
    };
    let pool = ProcessPool::new(cores).expect("heddle process pool");
    for name in selected {
        let mut case = match name {
            "pool map, chunksize 1" => pool_map(cfg, &pool, name, 1),
            "pool map, chunksize 100" => pool_map(cfg, &pool, name, 100),
            "queue round trip" => round_trip(cfg),
            "process start + join" => start_join(cfg),
            _ => pipeline(cfg),
        };
        if let Some(py) = &py {
            py.add_to(&mut case);
        }
        report.case(case);
    }
}

fn pool_map(
    cfg: &Config,
    pool: &ProcessPool,
    name: &str,
    chunksize: usize,
) -> crate::harness::Case {
    CaseBuilder::new(name, Unit::NsPerOp)
        .note("ns per task")
        .add("heddle", |n| {
            let start = Instant::now();
            for r in pool.map(tiny, 0..n, chunksize) {
                black_box(r.unwrap());
            }
            start.elapsed()
        })
        .measure(cfg)
}

fn round_trip(cfg: &Config) -> crate::harness::Case {
    let to: Items = ProcessQueue::unbounded().unwrap();
    let back: Items = ProcessQueue::unbounded().unwrap();
    let mut queue_child = Process::new(echo_queues, (to.clone(), back.clone()))
        .start()
        .unwrap();
    let (here, there) = Pipe::new().unwrap();
    let mut pipe_child = Process::new(echo_pipe, there).start().unwrap();
    let case = CaseBuilder::new("queue round trip", Unit::NsPerOp)
        .note("ns per round trip to an echo child")
        .add("heddle", |n| {
            let start = Instant::now();
            for i in 0..n {
                to.put(&Some(i)).unwrap();
                black_box(back.get().unwrap());
            }
            start.elapsed()
        })
        .add("heddle/pipe", |n| {
            let start = Instant::now();
            for i in 0..n {
                here.send(&i).unwrap();
                black_box(here.recv().unwrap());
            }
            start.elapsed()
        })
        .measure(cfg);
    to.put(&None).unwrap();
    drop(here);
    let _ = queue_child.join();
    let _ = pipe_child.join();
    case
}

fn start_join(cfg: &Config) -> crate::harness::Case {
    CaseBuilder::new("process start + join", Unit::NsPerOp)
        .note("ns per process: start a child that does nothing, join it")
        .add("heddle", |n| {
            let start = Instant::now();
            for _ in 0..n {
                Process::new(noop, ()).start().unwrap().join().unwrap();
            }
            start.elapsed()
        })
        .measure(cfg)
}

/// `n` timed items, at least [`PIPELINE_ITEMS`] run, scaled back to `n`.
fn scaled(n: u64, run: impl FnOnce(u64)) -> Duration {
    let items = n.max(PIPELINE_ITEMS);
    let start = Instant::now();
    run(items);
    start.elapsed().mul_f64(n as f64 / items as f64)
}

fn pipeline(cfg: &Config) -> crate::harness::Case {
    let case = CaseBuilder::new("3-stage pipeline", Unit::NsPerOp)
        .note("ns per item through three processes (items/s = 1e9 / figure)")
        .add("heddle", |n| {
            scaled(n, |items| {
                let got = Pipeline::from_iter(0..items)
                    .processes(1, read_stage)
                    .processes(1, transform)
                    .processes(1, write_stage)
                    .run(|x| {
                        black_box(x);
                    })
                    .unwrap();
                assert_eq!(got, items);
            })
        })
        .add("heddle/by-hand", |n| {
            scaled(n, |items| {
                let q1 = ProcessQueue::bounded(100).unwrap();
                let q2 = ProcessQueue::bounded(100).unwrap();
                let mut r = Process::new(reader, (q1.clone(), items)).start().unwrap();
                let mut p = Process::new(processor, (q1, q2.clone())).start().unwrap();
                let mut w = Process::new(writer, q2).start().unwrap();
                r.join().unwrap();
                p.join().unwrap();
                assert_eq!(w.join().unwrap(), items);
            })
        })
        .measure(cfg);
    case
}
