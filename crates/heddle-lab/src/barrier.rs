//! Phases separated by a `Barrier`.
//!
//! Workers compute in phases: in each phase every worker writes its slot of a shared
//! table, then every worker reads the whole table to compute the next phase.
//!
//! **The bug** (`one-barrier`): one barrier per phase, between the writes and the
//! reads. A fast worker finishes reading, starts the next phase and overwrites its
//! slot while a slow worker is still reading the previous phase: it reads a value from
//! the future.
//!
//! **The fix** (`two-barriers`): a second barrier after the reads, so nobody writes
//! phase p+1 until everyone has read phase p (the classic double barrier).

use std::sync::Arc;

use heddle::sync::{Barrier, Lock};

use crate::{join_all, spawn_n, Config, Exploration, Scenario, Strategy, Variant};

/// The scenario: `heddle check barrier`.
///
/// ```
/// let s = &heddle_lab::barrier::SCENARIO;
/// assert_eq!(s.name, "barrier");
/// assert!(s.first(true).unwrap().explore().is_err(), "the broken variant's bug is found");
/// ```
pub const SCENARIO: Scenario = Scenario {
    name: "barrier",
    title: "phases separated by a Barrier",
    python: &["threading.Barrier", "Barrier.wait"],
    variants: &[
        Variant {
            name: "one-barrier",
            broken: true,
            summary: "a fast worker writes phase p+1 while a slow one still reads phase p",
            run: |cfg| run(cfg, false),
            check: || check(false),
            exploration: Exploration::new(Strategy::Random, 300),
        },
        Variant {
            name: "two-barriers",
            broken: false,
            summary: "a second barrier after the reads: no write races ahead of a read",
            run: |cfg| run(cfg, true),
            check: || check(true),
            exploration: Exploration::new(Strategy::Random, 1500),
        },
    ],
};

/// What worker `w` writes in phase `p`.
fn value(p: usize, w: usize) -> u64 {
    (p * 1000 + w) as u64
}

/// Run `phases` phases with `workers` workers: `Err` on a read from the wrong phase
/// (the worker that saw it aborts the barrier, so the others stop too).
fn phases(
    workers: usize,
    phases: usize,
    two: bool,
    tick: impl Fn() + Send + Sync + Clone + 'static,
) -> Result<(), String> {
    let table = Arc::new(Lock::new(vec![0u64; workers]));
    let barrier = Arc::new(Barrier::new(workers));
    let results = join_all(spawn_n("phase-worker", workers, move |w| {
        let pass = |b: &Barrier| b.wait().map(|_| ()).map_err(|e| e.to_string());
        for p in 1..=phases {
            table.lock()[w] = value(p, w);
            pass(&barrier)?;
            for (other, &v) in table.lock().iter().enumerate() {
                if v != value(p, other) {
                    barrier.abort();
                    return Err(format!(
                        "phase {p}: worker {w} read worker {other}'s slot from another phase"
                    ));
                }
            }
            if two {
                pass(&barrier)?;
            }
            tick();
        }
        Ok(())
    }))?;
    // The worker that saw the bad read says what it saw; the others only saw the abort.
    let mut errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    errors.sort_by_key(|e| !e.starts_with("phase"));
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

const PHASES: usize = 200;

fn run(cfg: &Config, two: bool) -> Result<String, String> {
    // A run with a deadline repeats batches of phases until it passes.
    let (mut done, mut batch) = (0, 0);
    while cfg.more(batch, 1) {
        let c = cfg.clone();
        phases(cfg.threads, PHASES, two, move || c.tick())?;
        done += PHASES;
        batch += 1;
    }
    Ok(format!(
        "{} workers through {done} phases, every read saw its own phase",
        cfg.threads
    ))
}

fn check(two: bool) {
    if let Err(e) = phases(2, 2, two, || {}) {
        panic!("{e}");
    }
}
