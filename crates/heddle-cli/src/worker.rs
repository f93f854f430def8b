//! `heddle worker --redis URL`: a RedisPool worker running heddle's built-in functions
//! (`heddle_redis::Registry::builtins`), in as many threads as asked, until the pool
//! is shut down. A worker with your own functions is `RedisWorker::run` in your own
//! binary.

use std::process::ExitCode;

use heddle_redis::{RedisWorker, Registry};

/// Run `threads` workers of the pool `pool` at `url`; prints how many tasks ran.
pub fn run(url: &str, pool: &str, threads: usize) -> ExitCode {
    let mut workers = Vec::new();
    for _ in 0..threads.max(1) {
        match RedisWorker::connect(url, pool, Registry::builtins()) {
            Ok(w) => workers.push(w),
            Err(e) => {
                eprintln!("heddle worker: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!(
        "heddle worker: {} thread(s) on pool {pool:?} at {url}; functions: {}",
        workers.len(),
        Registry::builtins().names().join(", ")
    );
    let handles: Vec<_> = workers
        .into_iter()
        .map(|w| std::thread::spawn(move || w.run()))
        .collect();
    let mut ran = 0;
    let mut failed = false;
    for h in handles {
        match h.join() {
            Ok(Ok(n)) => ran += n,
            Ok(Err(e)) => {
                eprintln!("heddle worker: {e}");
                failed = true;
            }
            Err(_) => failed = true,
        }
    }
    println!("heddle worker: the pool was shut down; {ran} task(s) run");
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
