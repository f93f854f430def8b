//! RedisPool and RedisWorker against a real `redis-server`: results through heddle's
//! futures (submit, map with chunks, as_completed, wait), failures, and exactly-once
//! results while worker processes are killed with SIGKILL mid-run.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use heddle::pool::{as_completed, wait, FutureError, ReturnWhen};
use heddle_redis::server::RedisServer;
use heddle_redis::{Options, RedisPool, RedisQueue, RedisWorker, Registry};

fn registry() -> Registry {
    let mut r = Registry::builtins();
    r.register("test.triple", |x: u64| {
        // Long enough that a kill often lands mid-task.
        std::thread::sleep(Duration::from_micros(200));
        x * 3
    });
    r.register("test.fail", |x: u32| -> u32 { panic!("task {x} failed") });
    r
}

fn options() -> Options {
    Options {
        visibility_timeout: Duration::from_millis(800),
        max_deliveries: 1000,
        ..Options::default()
    }
}

fn spawn_thread_worker(url: &str, pool: &str) -> std::thread::JoinHandle<u64> {
    let worker = RedisWorker::with_options(url, pool, registry(), options()).unwrap();
    std::thread::spawn(move || worker.run().unwrap())
}

#[test]
fn submit_map_as_completed_and_failures() {
    let server = RedisServer::start().unwrap();
    let url = server.url();
    let workers: Vec<_> = (0..2).map(|_| spawn_thread_worker(&url, "basic")).collect();
    let pool = RedisPool::with_options(&url, "basic", options()).unwrap();

    let futures: Vec<_> = (0..50u64)
        .map(|i| (i, pool.submit::<u64, u64>("test.triple", i).unwrap()))
        .collect();
    let mut seen = HashSet::new();
    for done in as_completed(futures, None) {
        let (i, future) = done.unwrap();
        assert_eq!(future.result(), Ok(i * 3));
        assert!(seen.insert(i));
    }
    assert_eq!(seen.len(), 50);

    let mapped: Vec<u64> = pool
        .map::<u64, u64>("test.triple", 0..101, 7)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(mapped, (0..101).map(|i| i * 3).collect::<Vec<_>>());

    let failing = pool.submit::<u32, u32>("test.fail", 4).unwrap();
    let unknown = pool.submit::<u32, u32>("test.nobody", 4).unwrap();
    let done = wait([&failing, &unknown], None, ReturnWhen::AllCompleted);
    assert_eq!(done.done.len(), 2);
    match failing.result() {
        Err(FutureError::Panicked { message }) => {
            assert!(message.contains("task 4 failed"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    match unknown.result() {
        Err(FutureError::Panicked { message }) => {
            assert!(message.contains("test.nobody"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // A failed call in a map fails only its own item.
    let mixed: Vec<_> = pool
        .map::<u32, u32>("test.fail", [1, 2], 2)
        .unwrap()
        .collect();
    assert_eq!(mixed.len(), 2);
    assert!(mixed.iter().all(|r| r.is_err()));

    assert_eq!(pool.pending(), 0);
    pool.shutdown_workers().unwrap();
    let ran: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(ran, 50 + 101_u64.div_ceil(7) + 2 + 1);
}

/// The child half of the kill tests: a worker process. Does nothing unless the
/// parent set the variable.
#[test]
#[ignore = "run as a child process by the kill tests"]
fn child_worker() {
    let (Ok(url), Ok(pool)) = (
        std::env::var("HEDDLE_REDIS_WORKER_URL"),
        std::env::var("HEDDLE_REDIS_WORKER_POOL"),
    ) else {
        return;
    };
    let worker = RedisWorker::with_options(&url, &pool, registry(), options()).unwrap();
    worker.run().unwrap();
}

fn spawn_child_worker(url: &str, pool: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_worker", "--ignored", "--test-threads=1"])
        .env("HEDDLE_REDIS_WORKER_URL", url)
        .env("HEDDLE_REDIS_WORKER_POOL", pool)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A map of `tasks` across 3 worker processes, one of them killed with SIGKILL (and
/// replaced) every `every`: every result arrives exactly once, in order, right;
/// nothing is left pending or unfinished.
fn map_while_killing_workers(tasks: u64, every: Duration, pool_name: &str) {
    let server = RedisServer::start().unwrap();
    let url = server.url();
    let pool = RedisPool::with_options(&url, pool_name, options()).unwrap();
    let mut workers: Vec<Child> = (0..3)
        .map(|_| spawn_child_worker(&url, pool_name))
        .collect();
    let results = pool.map::<u64, u64>("test.triple", 0..tasks, 1).unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let collector = std::thread::spawn(move || {
        let got: Vec<Result<u64, FutureError>> = results.collect();
        done_tx.send(()).unwrap();
        got
    });
    let mut kills = 0;
    let mut victim = 0;
    let mut next_kill = Instant::now() + every;
    loop {
        match done_rx.recv_timeout(Duration::from_millis(20)) {
            Ok(()) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
        if Instant::now() >= next_kill {
            workers[victim].kill().unwrap(); // SIGKILL
            workers[victim].wait().unwrap();
            workers[victim] = spawn_child_worker(&url, pool_name);
            victim = (victim + 1) % workers.len();
            kills += 1;
            next_kill = Instant::now() + every;
        }
    }
    let got = collector.join().unwrap();
    assert!(
        kills > 0,
        "the map finished before any kill: make it longer"
    );
    assert_eq!(got.len() as u64, tasks);
    for (i, r) in got.into_iter().enumerate() {
        assert_eq!(r, Ok(i as u64 * 3), "task {i}");
    }
    assert_eq!(pool.pending(), 0);
    pool.join().unwrap();
    let tasks_queue = RedisQueue::<u8>::connect(&url, pool_name).unwrap();
    assert_eq!(tasks_queue.unfinished().unwrap(), 0);
    assert!(tasks_queue.dead_letters().unwrap().is_empty());
    pool.shutdown_workers().unwrap();
    for mut w in workers {
        w.wait().unwrap();
    }
}

#[test]
fn map_exactly_once_while_workers_are_killed() {
    map_while_killing_workers(1500, Duration::from_millis(150), "kill-small");
}

/// The bar: 10,000 tasks, a worker killed every second.
#[test]
#[ignore = "long: about a minute; run with --ignored"]
fn map_10000_exactly_once_while_a_worker_is_killed_every_second() {
    map_while_killing_workers(10_000, Duration::from_secs(1), "kill-10k");
}
