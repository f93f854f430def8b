//! `heddle-bench redis`: heddle-redis against the server's own limit and against
//! Python's RQ and Celery, on a `redis-server` the bench starts on a loopback port of
//! its own.
//!
//! * `redis queue put->get->done, K consumer(s), depth 16`: one producer putting with
//!   `put_many` (16 items per round trip) and K consumers taking 16 at a time
//!   (`get_many`) and marking them done, until every item is done;
//!   ns per item. Anchor: `redis-benchmark` running `XADD` with the same payload,
//!   pipelining depth 16 (`-P 16`) and 1 + K clients; ns per request. Each consumer
//!   marks a batch done in the same round trip as it takes the next
//!   (`task_done_and_try_get_many`), as a consumer's loop should. The two
//!   alternate, round by round.
//! * `redis pool trivial task, 2 workers`: `RedisPool::map` of `heddle.noop` with
//!   chunksize 1 (one task per call) and a `submit` loop, against 2 `RedisWorker`s
//!   (threads of this process, each with its own connections, prefetch 16); ns per
//!   task. Anchors: RQ and Celery with 2 worker processes each, Redis broker and
//!   result backend (`python/redis_anchors.py`, in a virtualenv that
//!   `python/redis_setup.sh` fills from PyPI; skipped with a note if that fails).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use heddle_redis::server::RedisServer;
use heddle_redis::{Options, RedisPool, RedisQueue, RedisWorker, Registry};

use crate::harness::{Case, Config, Figure, Unit};
use crate::Report;

const DEPTH: usize = 16;
/// The payload of every queue item and of redis-benchmark's XADD: 16 bytes.
const PAYLOAD: [u8; 16] = *b"heddle-bench-16b";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn figure(implementation: &str, samples: Vec<f64>) -> Figure {
    let lo = samples.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = samples.iter().cloned().fold(0.0, f64::max);
    let m = median(samples);
    Figure {
        implementation: implementation.to_string(),
        value: m,
        spread: Some((hi - lo) / m),
        failure: None,
    }
}

/// The group's entry point.
pub fn run(cfg: &Config, report: &mut Report) {
    let server = match RedisServer::start() {
        Ok(s) => s,
        Err(e) => {
            report.note(&format!("redis group skipped: {e}"));
            return;
        }
    };
    let url = server.url();
    let rounds = cfg.rounds.clamp(3, 7);
    let items: usize = if cfg.quick { 5_000 } else { 30_000 };
    report.note(&format!(
        "redis-server on {url} (no persistence), started by the bench; {rounds} rounds, \
         alternating heddle and the anchor; medians"
    ));
    for consumers in [1usize, 4] {
        let name = format!("redis queue put->get->done, {consumers} consumer(s), depth {DEPTH}");
        if !cfg.selects(&name) {
            continue;
        }
        let mut heddle = Vec::new();
        let mut anchor = Vec::new();
        let mut anchor_error = None;
        for round in 0..rounds {
            heddle.push(queue_round(
                &url,
                &format!("bench-{consumers}-{round}"),
                items,
                consumers,
            ));
            match redis_benchmark_xadd(server.port(), items, 1 + consumers) {
                Ok(ns) => anchor.push(ns),
                Err(e) => anchor_error = Some(e),
            }
        }
        let mut case = Case {
            name,
            unit: Unit::NsPerOp,
            results: vec![figure("heddle", heddle)],
            notes: vec![format!(
                "ns per item (put + get + task_done) vs ns per XADD; redis-benchmark -P {DEPTH} -c {}",
                1 + consumers
            )],
        };
        match anchor_error {
            None => case.results.push(figure("redis-benchmark XADD", anchor)),
            Some(e) => case.notes.push(format!("redis-benchmark skipped: {e}")),
        }
        report.case(case);
    }
    let pool_cases = [
        "redis pool trivial task, 2 workers (map)",
        "redis pool trivial task, 2 workers (submit)",
    ];
    if !pool_cases.iter().any(|n| cfg.selects(n)) {
        return;
    }
    let tasks: usize = if cfg.quick { 2_000 } else { 20_000 };
    let anchors = python_anchors(&url, cfg);
    for (i, name) in pool_cases.iter().enumerate() {
        if !cfg.selects(name) {
            continue;
        }
        let samples: Vec<f64> = (0..rounds)
            .map(|round| pool_round(&url, &format!("pool-{i}-{round}"), tasks, i == 0))
            .collect();
        let mut case = Case {
            name: name.to_string(),
            unit: Unit::NsPerOp,
            results: vec![figure("heddle", samples)],
            notes: vec!["ns per task, submit to result; RQ/Celery: 2 worker processes".to_string()],
        };
        match &anchors {
            Ok(figures) => {
                for (anchor, per_s) in figures {
                    case.push_external(anchor, 1e9 / per_s);
                }
            }
            Err(e) => case.notes.push(format!("RQ/Celery skipped: {e}")),
        }
        report.case(case);
    }
}

/// One round of the queue case: ns per item.
fn queue_round(url: &str, name: &str, items: usize, consumers: usize) -> f64 {
    let options = Options {
        batch: DEPTH,
        ..Options::default()
    };
    let producer = RedisQueue::<Vec<u8>>::with_options(url, name, options.clone()).unwrap();
    let workers: Vec<RedisQueue<Vec<u8>>> = (0..consumers)
        .map(|_| RedisQueue::with_options(url, name, options.clone()).unwrap())
        .collect();
    let finished = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let handles: Vec<_> = workers
        .into_iter()
        .map(|q| {
            let finished = finished.clone();
            std::thread::spawn(move || {
                // A consumer's loop: mark a batch done and take the next in one round
                // trip; wait with get_many only when nothing was waiting.
                let mut n = 0usize;
                let mut carried = Vec::new();
                loop {
                    let batch = if carried.is_empty() {
                        match q.get_many(DEPTH, None) {
                            Ok(batch) => batch,
                            Err(_) => break,
                        }
                    } else {
                        std::mem::take(&mut carried)
                    };
                    let (done, next) = q.task_done_and_try_get_many(&batch, DEPTH).unwrap();
                    assert_eq!(done, batch.len());
                    n += batch.len();
                    finished.fetch_add(batch.len(), Ordering::Relaxed);
                    carried = next;
                }
                n
            })
        })
        .collect();
    producer
        .put_many(std::iter::repeat_n(PAYLOAD.to_vec(), items))
        .unwrap();
    // The end: the consumers have marked every item done (join's own polling
    // interval would add up to 10 ms to the round).
    while finished.load(Ordering::Relaxed) < items {
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    let elapsed = start.elapsed();
    assert_eq!(producer.unfinished().unwrap(), 0);
    producer.shutdown(false).unwrap();
    let taken: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(taken, items, "the bench lost or duplicated items");
    producer.destroy().unwrap();
    elapsed.as_nanos() as f64 / items as f64
}

/// `redis-benchmark` on XADD with the same payload and depth: ns per request.
fn redis_benchmark_xadd(port: u16, requests: usize, clients: usize) -> Result<f64, String> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
        .args(["-n", &requests.to_string(), "-c", &clients.to_string()])
        .args(["-P", &DEPTH.to_string()])
        .args(["XADD", "heddle-bench-anchor", "*", "d"])
        .arg(std::str::from_utf8(&PAYLOAD).unwrap())
        .output()
        .map_err(|e| format!("could not run redis-benchmark ({e}); apt-get install redis-tools"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "...: 123456.79 requests per second, p50=..." (the last progress line wins).
    let rps = text
        .rsplit(" requests per second")
        .nth(1)
        .and_then(|before| before.rsplit([' ', '\r', ':']).find(|s| !s.is_empty()))
        .and_then(|n| n.parse::<f64>().ok())
        .ok_or_else(|| format!("could not read redis-benchmark's output: {text:?}"))?;
    // Keep the anchor's stream from growing across rounds.
    let _ = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "DEL", "heddle-bench-anchor"])
        .output();
    Ok(1e9 / rps)
}

/// One round of the pool case: ns per trivial task, 2 worker threads.
fn pool_round(url: &str, name: &str, tasks: usize, use_map: bool) -> f64 {
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let w = RedisWorker::connect(url, name, Registry::builtins())
                .unwrap()
                .prefetch(DEPTH);
            std::thread::spawn(move || w.run().unwrap())
        })
        .collect();
    let pool = RedisPool::connect(url, name).unwrap();
    let start = Instant::now();
    if use_map {
        let done = pool
            .map::<(), ()>("heddle.noop", std::iter::repeat_n((), tasks), 1)
            .unwrap()
            .filter(|r| r.is_ok())
            .count();
        assert_eq!(done, tasks);
    } else {
        let futures: Vec<_> = (0..tasks)
            .map(|_| pool.submit::<(), ()>("heddle.noop", ()).unwrap())
            .collect();
        for f in futures {
            f.result().unwrap();
        }
    }
    let elapsed = start.elapsed();
    pool.shutdown_workers().unwrap();
    for w in workers {
        w.join().unwrap();
    }
    elapsed.as_nanos() as f64 / tasks as f64
}

/// RQ's and Celery's tasks per second with 2 workers, from the Python script.
fn python_anchors(url: &str, cfg: &Config) -> Result<Vec<(String, f64)>, String> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python");
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-venv-redis");
    let setup = Command::new("bash")
        .arg(here.join("redis_setup.sh"))
        .arg(&venv)
        .output()
        .map_err(|e| format!("could not run redis_setup.sh: {e}"))?;
    if !setup.status.success() {
        return Err(format!(
            "RQ/Celery did not install: {}",
            String::from_utf8_lossy(&setup.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let python = String::from_utf8_lossy(&setup.stdout).trim().to_string();
    let tasks = if cfg.quick { "300" } else { "1000" };
    let out = Command::new(&python)
        .arg(here.join("redis_anchors.py"))
        .env("HEDDLE_BENCH_REDIS", format!("{url}0"))
        .env("HEDDLE_BENCH_WORKERS", "2")
        .env("HEDDLE_BENCH_TASKS", tasks)
        .output()
        .map_err(|e| format!("could not run redis_anchors.py: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    let figures: Vec<(String, f64)> = crate::harness::parse_flat_json(line)
        .map_err(|e| format!("redis_anchors.py: {e}; stderr: {stderr}"))?
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    if figures.is_empty() {
        return Err(format!("no anchor ran: {}", stderr.trim()));
    }
    Ok(figures)
}
