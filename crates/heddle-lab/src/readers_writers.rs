//! Readers and writers.
//!
//! Many readers may hold a readers–writers lock at once; a writer holds it alone. The
//! record here has two fields that a writer changes together; a reader must never see
//! them differ. Which waiting side goes first is the lock's *policy*, and heddle names
//! it: `ReaderPreferring`, `WriterPreferring`, `PhaseFair`.
//!
//! **The bug** (`upgrade`): a reader that finds the record uninitialised takes the
//! write lock *while still holding its read lock*, to fill it in. The write waits for
//! every reader to leave, itself included: it waits for ever. (A read lock cannot be
//! upgraded; heddle's detector says so the moment it happens.)
//!
//! **The fixed variants** drop the read lock before writing, and show each policy
//! under a steady stream of overlapping readers: under `ReaderPreferring` the writer
//! starves (the measured figure: how many writes got in, the longest wait), under
//! `WriterPreferring` and `PhaseFair` it gets in within about one read.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heddle::sync::{RwLock, RwPolicy};
use heddle::thread::Thread;

use crate::{join_all, spawn_n, Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check readers-writers`.
///
/// ```
/// let s = &heddle_lab::readers_writers::SCENARIO;
/// assert_eq!(s.name, "readers-writers");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "readers-writers",
    title: "readers-writers under each RwLock policy; writer starvation measured",
    python: &["threading.Lock", "threading.Condition"],
    variants: &[
        Variant {
            name: "upgrade",
            broken: true,
            summary:
                "a reader takes the write lock while holding its read lock: it waits for itself",
            run: run_upgrade,
            check: check_upgrade,
            exploration: Exploration::new(Strategy::Random, 100),
        },
        Variant {
            name: "reader-preferring",
            broken: false,
            summary:
                "readers first: correct, but a stream of readers starves the writer (measured)",
            run: |cfg| run(cfg, RwPolicy::ReaderPreferring),
            check: || check(RwPolicy::ReaderPreferring),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
        Variant {
            name: "writer-preferring",
            broken: false,
            summary: "a waiting writer holds back new readers: it gets in within one read",
            run: |cfg| run(cfg, RwPolicy::WriterPreferring),
            check: || check(RwPolicy::WriterPreferring),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
        Variant {
            name: "phase-fair",
            broken: false,
            summary: "readers and writers alternate in phases: neither side starves",
            run: |cfg| run(cfg, RwPolicy::PhaseFair),
            check: || check(RwPolicy::PhaseFair),
            exploration: Exploration::new(Strategy::Dfs(2), 3000),
        },
    ],
};

/// Two fields a writer keeps equal.
#[derive(Debug, Default)]
struct Record {
    a: u64,
    b: u64,
}

/// The buggy "read, and upgrade if it needs filling in".
fn read_or_fill(record: &RwLock<Record>) -> u64 {
    let r = record.read();
    if r.a == 0 {
        // BUG: still holding `r`.
        let mut w = record.write();
        w.a = 1;
        w.b = 1;
        return 1;
    }
    r.a
}

fn run_upgrade(_cfg: &Config) -> Result<String, String> {
    let record = Arc::new(RwLock::new(Record::default()));
    let r = Arc::clone(&record);
    let reader = Thread::new(move || read_or_fill(&r))
        .name("reader-0")
        .start();
    match reader.join() {
        Ok(v) => Ok(format!("read {v} (the record was already filled in)")),
        Err(e) => Err(e.message().to_string()),
    }
}

fn check_upgrade() {
    let record = Arc::new(RwLock::new(Record::default()));
    let r = Arc::clone(&record);
    let reader = Thread::new(move || read_or_fill(&r)).name("reader").start();
    {
        let mut w = record.write();
        w.a = 1;
        w.b = 1;
    }
    assert_eq!(reader.join().unwrap(), 1);
}

/// How long the fixed variants run when no deadline is given.
const RUN: Duration = Duration::from_millis(250);

fn run(cfg: &Config, policy: RwPolicy) -> Result<String, String> {
    let started = Instant::now();
    let record = Arc::new(RwLock::with_policy(Record::default(), policy));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = cfg
        .deadline
        .unwrap_or_else(|| Instant::now() + RUN * cfg.scale as u32);
    let readers = cfg.threads.max(3);
    let (r, s, c) = (Arc::clone(&record), Arc::clone(&stop), cfg.clone());
    let reading = spawn_n("reader", readers, move |i| {
        // Stagger the readers so that their holds overlap.
        std::thread::sleep(Duration::from_micros(300 * i as u64));
        let mut reads = 0u64;
        while !s.load(Ordering::Relaxed) {
            let g = r.read();
            if g.a != g.b {
                return Err(format!("torn read: a = {}, b = {}", g.a, g.b));
            }
            std::thread::sleep(Duration::from_millis(1));
            drop(g);
            reads += 1;
            c.tick();
        }
        Ok(reads)
    });
    let r = Arc::clone(&record);
    let writer = Thread::new(move || {
        let (mut writes, mut longest) = (0u64, Duration::ZERO);
        while Instant::now() < deadline {
            let asked = Instant::now();
            // Give up at the deadline: under reader preference it may never get in.
            let left = deadline.saturating_duration_since(asked);
            let Some(mut w) = r.write_timeout(left) else {
                longest = longest.max(asked.elapsed());
                break;
            };
            longest = longest.max(asked.elapsed());
            w.a += 1;
            w.b += 1;
            drop(w);
            writes += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        (writes, longest)
    })
    .name("writer")
    .start();
    let (writes, longest) = writer.join().map_err(|e| e.message().to_string())?;
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = join_all(reading)?
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .sum();
    let g = record.read();
    if g.a != writes || g.b != writes {
        return Err(format!(
            "{writes} writes but the record says {}/{}",
            g.a, g.b
        ));
    }
    Ok(format!(
        "{policy:?}: writer got in {writes} times in {:.0} ms (longest wait {:.1} ms) beside {reads} reads",
        started.elapsed().as_secs_f64() * 1e3,
        longest.as_secs_f64() * 1e3
    ))
}

fn check(policy: RwPolicy) {
    let record = Arc::new(RwLock::with_policy(Record::default(), policy));
    let r = Arc::clone(&record);
    let readers = spawn_n("reader", 2, move |_| {
        let g = r.read();
        assert_eq!(g.a, g.b, "torn read");
    });
    {
        let mut w = record.write();
        w.a += 1;
        w.b += 1;
    }
    join_all(readers).unwrap();
    assert_eq!(record.read().a, 1);
}
