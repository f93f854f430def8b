//! # heddle-lab: the classic concurrency problems, broken and fixed
//!
//! The courses teach concurrency through a handful of problems and their pitfalls. Each
//! module here is one of them, written with heddle's public API the way a user would
//! write it, in at least one **broken** variant (the pitfall) and one **fixed** variant,
//! and each variant comes in two forms:
//!
//! * [`Variant::run`]: a real run on OS threads (heddle threads, so
//!   `heddle::debug::dump()` sees them), with its result verified: `Ok` with what it
//!   showed, or `Err` with what went wrong (a broken variant may get lucky on a real
//!   run: that is why the checker exists);
//! * [`Variant::check`]: a small body for [`heddle::check`], which explores its
//!   interleavings: the checker must find the bug of every broken variant within the
//!   variant's stated [`Exploration`], and must find nothing in a fixed one.
//!
//! `heddle list`, `heddle check`, `heddle demo` and the lab rows of `heddle tour` are
//! built on [`scenarios`].
//!
//! ```
//! let counter = heddle_lab::find("counter").unwrap();
//! let racy = counter.variant("racy").unwrap();
//! assert!(racy.broken);
//! // The checker finds the lost update within the stated exploration.
//! let report = racy.explore().unwrap_err();
//! assert!(report.message().contains("lost"));
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heddle::check::{Checker, Coverage, Report};
use heddle::thread::{JoinHandle, Thread};

pub mod bank;
pub mod barrier;
pub mod buffer;
pub mod connection_pool;
pub mod counter;
pub mod handshake;
pub mod images;
pub mod philosophers;
pub mod pipeline;
pub mod readers_writers;
pub mod server;
pub mod workers;

/// One classic problem: its name on the command line, a title, the Python names it
/// teaches, and its variants (at least one broken, at least one fixed).
#[derive(Debug)]
pub struct Scenario {
    /// The command-line name (`heddle check bank`).
    pub name: &'static str,
    /// A one-line title.
    pub title: &'static str,
    /// The Python names the scenario uses (see `docs/from-python.md`).
    pub python: &'static [&'static str],
    /// Broken and fixed variants, broken first.
    pub variants: &'static [Variant],
}

impl Scenario {
    /// The variant called `name`.
    ///
    /// ```
    /// let bank = heddle_lab::find("bank").unwrap();
    /// assert!(bank.variant("ab-ba").unwrap().broken);
    /// assert!(bank.variant("nope").is_none());
    /// ```
    pub fn variant(&self, name: &str) -> Option<&'static Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// The first broken (`broken == true`) or fixed variant.
    ///
    /// ```
    /// let p = heddle_lab::find("philosophers").unwrap();
    /// assert_eq!(p.first(true).unwrap().name, "naive");
    /// ```
    pub fn first(&self, broken: bool) -> Option<&'static Variant> {
        self.variants.iter().find(|v| v.broken == broken)
    }
}

/// One variant of a scenario.
#[derive(Debug)]
pub struct Variant {
    /// The variant's name (`heddle check bank/ab-ba`).
    pub name: &'static str,
    /// Whether this is the pitfall (the checker must find its bug).
    pub broken: bool,
    /// What the variant does, and for a broken one, what goes wrong.
    pub summary: &'static str,
    /// A real run on OS threads, verified: `Ok(what it showed)` or `Err(what failed)`.
    pub run: fn(&Config) -> Result<String, String>,
    /// The body the checker explores (small: a few threads, a few operations).
    pub check: fn(),
    /// The exploration the checker is held to: a broken variant's bug is found within
    /// it, a fixed variant passes all of it.
    pub exploration: Exploration,
}

impl Variant {
    /// Explore [`check`](Self::check) with the stated [`exploration`](Self::exploration).
    ///
    /// # Errors
    ///
    /// The checker's [`Report`] when a schedule fails (expected for a broken variant).
    ///
    /// ```
    /// let locked = heddle_lab::find("counter").unwrap().variant("locked").unwrap();
    /// assert!(locked.explore().is_ok());
    /// ```
    pub fn explore(&self) -> Result<Coverage, Report> {
        self.exploration.checker().explore(self.check)
    }

    /// Explore [`check`](Self::check) with any checker (another strategy, seed,
    /// iteration count).
    ///
    /// # Errors
    ///
    /// As [`explore`](Self::explore).
    ///
    /// ```
    /// use heddle::check::Checker;
    /// let racy = heddle_lab::find("counter").unwrap().variant("racy").unwrap();
    /// assert!(racy.explore_with(&Checker::random().iterations(500)).is_err());
    /// ```
    pub fn explore_with(&self, checker: &Checker) -> Result<Coverage, Report> {
        checker.explore(self.check)
    }
}

/// How the checker explores a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// A uniformly random choice at every schedule point.
    Random,
    /// Probabilistic concurrency testing with this bug depth.
    Pct(usize),
    /// Every schedule up to this many preemptions.
    Dfs(usize),
}

/// A strategy and a number of executions: what "found within" and "passes" mean for a
/// variant.
///
/// ```
/// use heddle_lab::{Exploration, Strategy};
/// let e = Exploration { strategy: Strategy::Pct(2), iterations: 100 };
/// assert!(e.checker().explore(|| {}).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exploration {
    /// Which strategy.
    pub strategy: Strategy,
    /// At most this many executions.
    pub iterations: usize,
}

impl Exploration {
    const fn new(strategy: Strategy, iterations: usize) -> Self {
        Exploration {
            strategy,
            iterations,
        }
    }

    /// The checker this exploration describes (default seed).
    ///
    /// ```
    /// use heddle_lab::{Exploration, Strategy};
    /// let c = Exploration { strategy: Strategy::Random, iterations: 5 }.checker();
    /// assert_eq!(c.explore(|| {}).unwrap().executions(), 5);
    /// ```
    pub fn checker(&self) -> Checker {
        let checker = match self.strategy {
            Strategy::Random => Checker::random(),
            Strategy::Pct(depth) => Checker::pct(depth),
            Strategy::Dfs(bound) => Checker::dfs().preemption_bound(bound),
        };
        checker.iterations(self.iterations)
    }
}

/// How a real run is sized, and where it counts its progress (for `heddle demo`'s
/// throughput).
///
/// ```
/// let cfg = heddle_lab::Config::new(4);
/// assert!(cfg.more(0, 10) && !cfg.more(10, 10));
/// cfg.tick();
/// assert_eq!(cfg.ticks(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// How many worker threads (each scenario says how it uses them).
    pub threads: usize,
    /// Run until then instead of a fixed number of rounds.
    pub deadline: Option<Instant>,
    /// Multiply the fixed number of rounds (1 = the quick run of the tour).
    pub scale: usize,
    progress: Arc<AtomicU64>,
}

impl Config {
    /// `threads` workers, the quick fixed-size run.
    ///
    /// ```
    /// assert_eq!(heddle_lab::Config::new(3).threads, 3);
    /// ```
    pub fn new(threads: usize) -> Self {
        Config {
            threads: threads.max(2),
            deadline: None,
            scale: 1,
            progress: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Run for `seconds` (loops that have a natural end still end there).
    ///
    /// ```
    /// let cfg = heddle_lab::Config::new(2).for_seconds(0.0);
    /// assert!(!cfg.more(0, 10));
    /// ```
    pub fn for_seconds(mut self, seconds: f64) -> Self {
        self.deadline = Some(Instant::now() + Duration::from_secs_f64(seconds.max(0.0)));
        self
    }

    /// Multiply the fixed number of rounds.
    ///
    /// ```
    /// let cfg = heddle_lab::Config::new(2).scaled(3);
    /// assert!(cfg.more(29, 10) && !cfg.more(30, 10));
    /// ```
    pub fn scaled(mut self, scale: usize) -> Self {
        self.scale = scale.max(1);
        self
    }

    /// Whether a loop that has done `done` rounds goes on: until the deadline if there
    /// is one, else for `base × scale` rounds.
    ///
    /// ```
    /// assert!(heddle_lab::Config::new(2).more(4, 5));
    /// ```
    pub fn more(&self, done: usize, base: usize) -> bool {
        match self.deadline {
            Some(deadline) => Instant::now() < deadline,
            None => done < base * self.scale,
        }
    }

    /// Count one unit of work done (what `heddle demo` shows as throughput).
    ///
    /// ```
    /// let cfg = heddle_lab::Config::new(2);
    /// cfg.tick();
    /// ```
    pub fn tick(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// Units of work done so far.
    ///
    /// ```
    /// assert_eq!(heddle_lab::Config::new(2).ticks(), 0);
    /// ```
    pub fn ticks(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }
}

/// Every scenario, in the order the courses teach them.
///
/// ```
/// let names: Vec<_> = heddle_lab::scenarios().iter().map(|s| s.name).collect();
/// assert!(names.contains(&"philosophers"));
/// for s in heddle_lab::scenarios() {
///     assert!(s.first(true).is_some() && s.first(false).is_some(), "{}", s.name);
/// }
/// ```
pub fn scenarios() -> &'static [Scenario] {
    &SCENARIOS
}

static SCENARIOS: [Scenario; 12] = [
    counter::SCENARIO,
    bank::SCENARIO,
    buffer::SCENARIO,
    workers::SCENARIO,
    philosophers::SCENARIO,
    readers_writers::SCENARIO,
    handshake::SCENARIO,
    connection_pool::SCENARIO,
    barrier::SCENARIO,
    images::SCENARIO,
    server::SCENARIO,
    pipeline::SCENARIO,
];

/// The scenario called `name`.
///
/// ```
/// assert_eq!(heddle_lab::find("bank").unwrap().name, "bank");
/// assert!(heddle_lab::find("nope").is_none());
/// ```
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// Resolve `scenario` or `scenario/variant` on the command line.
///
/// # Errors
///
/// A message naming what exists, when nothing matches.
///
/// ```
/// let (s, v) = heddle_lab::resolve("bank/ordered").unwrap();
/// assert_eq!((s.name, v.map(|v| v.name)), ("bank", Some("ordered")));
/// assert!(heddle_lab::resolve("bank/nope").unwrap_err().contains("ab-ba"));
/// ```
pub fn resolve(spec: &str) -> Result<(&'static Scenario, Option<&'static Variant>), String> {
    let (name, variant) = match spec.split_once('/') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    let Some(scenario) = find(name) else {
        let names: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
        return Err(format!(
            "no scenario called '{name}'; the scenarios are: {} (see `heddle list`)",
            names.join(", ")
        ));
    };
    match variant {
        None => Ok((scenario, None)),
        Some(v) => match scenario.variant(v) {
            Some(v) => Ok((scenario, Some(v))),
            None => {
                let names: Vec<_> = scenario.variants.iter().map(|v| v.name).collect();
                Err(format!(
                    "scenario '{name}' has no variant '{v}'; its variants are: {}",
                    names.join(", ")
                ))
            }
        },
    }
}

// Helpers the scenarios share: start named heddle threads, join them all.

/// Start `n` heddle threads named `{prefix}-{i}` running `f(i)`.
fn spawn_n<T, F>(prefix: &str, n: usize, f: F) -> Vec<JoinHandle<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> T + Send + Sync + Clone + 'static,
{
    (0..n)
        .map(|i| {
            let f = f.clone();
            Thread::new(move || f(i))
                .name(format!("{prefix}-{i}"))
                .start()
        })
        .collect()
}

/// Join every handle; the first panic's message (a deadlock report, an assertion) as
/// the error, after joining the rest.
fn join_all<T>(handles: Vec<JoinHandle<T>>) -> Result<Vec<T>, String> {
    let mut out = Vec::with_capacity(handles.len());
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(v) => out.push(v),
            Err(e) => {
                first_error.get_or_insert_with(|| {
                    format!("thread '{}' panicked: {}", e.thread_name(), e.message())
                });
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// A small deterministic pseudo-random sequence (xorshift), so runs need no crate.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
