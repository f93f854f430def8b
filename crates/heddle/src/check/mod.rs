//! The checker: run a test under a deterministic scheduler, explore interleavings, and
//! print a readable, replayable trace of the schedule that breaks it.
//!
//! ```
//! use heddle::check::{AtomicUsize, Checker};
//! use heddle::thread::Thread;
//! use std::sync::atomic::Ordering;
//! use std::sync::Arc;
//!
//! // The lost update: two threads each do `load` then `store(v + 1)`.
//! let report = Checker::pct(2).iterations(1000).explore(|| {
//!     let counter = Arc::new(AtomicUsize::new(0));
//!     let threads: Vec<_> = (0..2)
//!         .map(|_| {
//!             let c = Arc::clone(&counter);
//!             Thread::new(move || {
//!                 let v = c.load(Ordering::SeqCst);
//!                 c.store(v + 1, Ordering::SeqCst);
//!             })
//!             .start()
//!         })
//!         .collect();
//!     for t in threads {
//!         t.join().unwrap();
//!     }
//!     assert_eq!(counter.load(Ordering::SeqCst), 2, "an update was lost");
//! });
//! let failure = report.unwrap_err();
//! assert!(failure.to_string().contains("an update was lost"));
//! // The token reproduces it exactly.
//! # let token = failure.token().to_string();
//! ```
//!
//! # How it works
//!
//! Inside [`Checker::run`], heddle threads are stackful coroutines on one OS thread,
//! scheduled one at a time. Every heddle operation (lock, unlock, condition wait and
//! notify, semaphore acquire and release, event, barrier, rwlock, thread start and
//! join, and the modelled [`AtomicUsize`]… and [`Cell`]) is a *schedule point* where
//! the strategy picks who runs next. Waits go through the seam's checker backend, so a
//! blocked thread simply is not runnable; time is virtual, so a timed wait times out
//! exactly when nothing else can run. When nothing can run and no wait has a timeout,
//! that is a deadlock, reported with the cycle of locks if there is one.
//!
//! Strategies: [`Checker::pos`] (partial-order sampling, the default of
//! [`Checker::new`]), [`Checker::random`], [`Checker::pct`] (probabilistic, with a
//! bound on the bug depth) and [`Checker::dfs`] (every schedule up to a preemption
//! bound).
//!
//! # What it does not see
//!
//! Only heddle operations are schedule points. Code that synchronises through std
//! locks, std atomics, channels, I/O or real time is run as one indivisible step, and
//! if it blocks the OS thread the checker cannot help: after a step budget it reports
//! the run as stuck. Memory is sequentially consistent (no weak-memory reorderings).

mod dpor;
mod exec;
mod model;
mod rng;
mod strategy;
mod token;

use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use exec::{acquired, acquired_read, released, released_read, CHECKED};
pub(crate) use exec::{active, block_on, next_number, now, point, spawn, touch, unblock, Op};
pub use model::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Cell};
pub use token::TokenError;

use exec::{short, Failure, Outcome};

/// A schedule point for a user-facing operation, if the calling thread is checked.
#[inline]
pub(crate) fn op(
    what: &'static str,
    object: crate::wait::Object,
    at: &'static std::panic::Location<'static>,
) {
    if active() {
        point(Op {
            what,
            object: Some(object),
            at,
        });
    }
}
use strategy::Default as DefaultStrategy;
use strategy::{Dfs, Pct, Pos, Random, Replay, Strategy};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Default,
    Random,
    Pos,
    Dpor,
    Pct(usize),
    Dfs(usize),
}

impl Default for Checker {
    /// [`Checker::new`].
    fn default() -> Self {
        Checker::new()
    }
}

/// Explores the interleavings of a test closure; see the [module docs](self).
///
/// ```
/// use heddle::check::Checker;
/// use heddle::sync::Lock;
/// use std::sync::Arc;
///
/// let coverage = Checker::dfs().preemption_bound(2).run(|| {
///     let lock = Arc::new(Lock::new(0));
///     let l = Arc::clone(&lock);
///     let t = heddle::thread::Thread::new(move || *l.lock() += 1).start();
///     *lock.lock() += 1;
///     t.join().unwrap();
///     assert_eq!(*lock.lock(), 2);
/// });
/// assert!(coverage.is_exhaustive());
/// ```
#[derive(Debug, Clone)]
pub struct Checker {
    kind: Kind,
    iterations: usize,
    seed: u64,
    budget: Option<Duration>,
    max_steps: usize,
}

const DEFAULT_SEED: u64 = 0x4845_444c_4531;
const DEFAULT_MAX_STEPS: usize = 100_000;

impl Checker {
    fn with(kind: Kind) -> Self {
        Checker {
            kind,
            iterations: 1000,
            seed: DEFAULT_SEED,
            budget: None,
            max_steps: DEFAULT_MAX_STEPS,
        }
    }

    /// The default strategy, the one that finds the most bugs in heddle's benchmark of
    /// classic buggy programs (`heddle-bench -- check`), 1000 executions: two
    /// round-robin executions first (switch to another runnable thread at every
    /// point, cycling one way then the other: the schedules that interleave most,
    /// which show most two-thread races and lock-order deadlocks at once), then
    /// [partial-order sampling](Self::pos), every eighth execution a random walk.
    ///
    /// ```
    /// let c = heddle::check::Checker::new().iterations(10).run(|| {});
    /// assert_eq!(c.executions(), 10);
    /// ```
    pub fn new() -> Self {
        Checker::with(Kind::Default)
    }

    /// Partial-order sampling: every pending operation gets a random priority when it
    /// becomes its thread's next one (or when a step races with it: same object, one
    /// of them writes), and the runnable operation with the highest priority runs. Unlike [`random`](Self::random) and [`pct`](Self::pct), an
    /// operation that drew a low priority stays delayed however many threads start
    /// after it, so a late-spawned thread can slip between two steps of an early one.
    ///
    /// ```
    /// heddle::check::Checker::pos().iterations(10).run(|| {});
    /// ```
    pub fn pos() -> Self {
        Checker::with(Kind::Pos)
    }

    /// Uniformly random choice at every schedule point.
    ///
    /// ```
    /// heddle::check::Checker::random().iterations(10).run(|| {});
    /// ```
    pub fn random() -> Self {
        Checker::with(Kind::Random)
    }

    /// PCT (probabilistic concurrency testing) for bugs of depth `depth`: the number of
    /// ordering constraints a schedule must meet to show the bug (2 finds most
    /// two-thread races, 3 most others).
    ///
    /// ```
    /// heddle::check::Checker::pct(3).iterations(10).run(|| {});
    /// ```
    pub fn pct(depth: usize) -> Self {
        Checker::with(Kind::Pct(depth.max(1)))
    }

    /// Systematic depth-first exploration of every schedule with at most 2 preemptions
    /// (change the bound with [`preemption_bound`](Self::preemption_bound)).
    ///
    /// ```
    /// let c = heddle::check::Checker::dfs().run(|| {});
    /// assert!(c.is_exhaustive());
    /// ```
    pub fn dfs() -> Self {
        Checker {
            iterations: usize::MAX,
            ..Checker::with(Kind::Dfs(2))
        }
    }

    /// Exhaustive search with dynamic partial-order reduction: every distinct
    /// interleaving of dependent operations, once (steps of different threads that
    /// touch different objects, or only read one, are not re-ordered against each
    /// other). No preemption bound: when it ends by itself, [`Coverage::is_exhaustive`]
    /// says every behaviour of the test was seen. [`iterations`](Self::iterations) and
    /// [`time_budget`](Self::time_budget) cap it (unlimited by default).
    ///
    /// ```
    /// use heddle::check::{AtomicUsize, Checker};
    /// use std::sync::atomic::Ordering::SeqCst;
    /// use std::sync::Arc;
    ///
    /// let c = Checker::dpor().run(|| {
    ///     let n = Arc::new(AtomicUsize::new(0));
    ///     let m = Arc::clone(&n);
    ///     let t = heddle::thread::Thread::new(move || m.fetch_add(1, SeqCst)).start();
    ///     n.fetch_add(1, SeqCst);
    ///     t.join().unwrap();
    ///     assert_eq!(n.load(SeqCst), 2);
    /// });
    /// assert!(c.is_exhaustive());
    /// ```
    pub fn dpor() -> Self {
        Checker {
            iterations: usize::MAX,
            ..Checker::with(Kind::Dpor)
        }
    }

    /// The DFS preemption bound (ignored by the other strategies).
    ///
    /// ```
    /// heddle::check::Checker::dfs().preemption_bound(1).run(|| {});
    /// ```
    pub fn preemption_bound(mut self, bound: usize) -> Self {
        if let Kind::Dfs(_) = self.kind {
            self.kind = Kind::Dfs(bound);
        }
        self
    }

    /// The most executions to run (default 1000; unlimited for DFS until exhausted).
    ///
    /// ```
    /// let c = heddle::check::Checker::random().iterations(5).run(|| {});
    /// assert_eq!(c.executions(), 5);
    /// ```
    pub fn iterations(mut self, n: usize) -> Self {
        self.iterations = n.max(1);
        self
    }

    /// The seed of the random and PCT strategies (default: fixed, so runs repeat).
    ///
    /// ```
    /// heddle::check::Checker::random().seed(7).iterations(3).run(|| {});
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Stop exploring after this much wall-clock time, even if iterations remain.
    ///
    /// ```
    /// use std::time::Duration;
    /// heddle::check::Checker::random().time_budget(Duration::from_millis(50)).run(|| {});
    /// ```
    pub fn time_budget(mut self, budget: Duration) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The most schedule points one execution may take before it is reported as stuck
    /// (a livelock, an unbounded loop, a wait on something the checker does not see).
    ///
    /// ```
    /// heddle::check::Checker::random().max_steps(1000).iterations(1).run(|| {});
    /// ```
    pub fn max_steps(mut self, steps: usize) -> Self {
        self.max_steps = steps.max(1);
        self
    }

    /// Explore; panic with the failure report if an execution fails.
    ///
    /// # Panics
    ///
    /// With the full [`Report`] when a schedule fails, so a `#[test]` fails with the
    /// trace and replay token in its output.
    ///
    /// ```
    /// let coverage = heddle::check::Checker::pct(2).iterations(20).run(|| {});
    /// println!("{coverage}");
    /// ```
    #[track_caller]
    pub fn run<F: Fn() + Send + Sync + 'static>(&self, f: F) -> Coverage {
        match self.explore(f) {
            Ok(coverage) => coverage,
            Err(report) => panic!("{report}"),
        }
    }

    /// Explore and return the failure report instead of panicking.
    ///
    /// # Errors
    ///
    /// The [`Report`] of the first failing schedule, shrunk to as few preemptions as
    /// the checker could.
    ///
    /// ```
    /// let r = heddle::check::Checker::random().iterations(3).explore(|| {});
    /// assert!(r.is_ok());
    /// ```
    #[track_caller]
    pub fn explore<F: Fn() + Send + Sync + 'static>(&self, f: F) -> Result<Coverage, Report> {
        let at = std::panic::Location::caller();
        let f: Arc<dyn Fn() + Send + Sync> = Arc::new(f);
        let _watching = Watching::start();
        let started = Instant::now();
        let dfs = matches!(self.kind, Kind::Dfs(_) | Kind::Dpor);
        let mut strategy: Box<dyn Strategy> = match self.kind {
            Kind::Default => Box::new(DefaultStrategy::new(self.seed)),
            Kind::Random => Box::new(Random::new(self.seed)),
            Kind::Pos => Box::new(Pos::new(self.seed)),
            Kind::Dpor => Box::new(dpor::Dpor::new()),
            Kind::Pct(depth) => Box::new(Pct::new(self.seed, depth)),
            Kind::Dfs(bound) => Box::new(Dfs::new(bound)),
        };
        let mut executions = 0;
        let mut exhaustive = false;
        while executions < self.iterations {
            if self.budget.is_some_and(|b| started.elapsed() >= b) {
                break;
            }
            if !strategy.begin() {
                exhaustive = true;
                break;
            }
            let outcome = exec::run_execution(&f, strategy.as_mut(), self.max_steps, at);
            executions += 1;
            if outcome.failure.is_some() {
                let found = (outcome.preemptions(), outcome.trace.len());
                let outcome = shrink(&f, outcome, self.max_steps, at);
                let mut report = Report::new(outcome, self.describe(), executions);
                report.shrunk_from(found);
                return Err(report);
            }
            exec::recycle(outcome);
        }
        if dfs && !exhaustive && !strategy.begin() {
            // The iteration limit or the time budget ended the loop just as the last
            // schedule within the bound had run.
            exhaustive = true;
        }
        Ok(Coverage {
            description: self.describe(),
            executions,
            exhaustive,
            elapsed: started.elapsed(),
        })
    }

    /// Decode a replay token without running it (to validate one).
    ///
    /// # Errors
    ///
    /// [`TokenError`] if the token is malformed or from another format version.
    ///
    /// ```
    /// assert!(heddle::check::Checker::replay_schedule("hc9.AAAA").is_err());
    /// ```
    pub fn replay_schedule(token: &str) -> Result<usize, TokenError> {
        token::decode(token).map(|s| s.choices.len())
    }

    fn describe(&self) -> String {
        match self.kind {
            Kind::Default => format!(
                "default: round-robin, then partial-order sampling (seed {})",
                self.seed
            ),
            Kind::Random => format!("random (seed {})", self.seed),
            Kind::Pos => format!("partial-order sampling (seed {})", self.seed),
            Kind::Dpor => "DPOR".to_string(),
            Kind::Pct(d) => format!("PCT depth {d} (seed {})", self.seed),
            Kind::Dfs(b) => format!("DFS up to {b} preemptions"),
        }
    }
}

/// Re-run the exact schedule of a failure report's token.
///
/// The recorded steps are followed exactly; if the test goes on past them (it no longer
/// fails there: it was fixed), the threads run on without preemption and the replay
/// passes if the test does.
///
/// # Panics
///
/// With the failure report if the schedule fails again (the usual outcome: put this in
/// a test to debug it); with a clear message if the token is malformed or from another
/// format version, or if the execution diverged from the recorded one (something the
/// checker does not control changed it).
///
/// ```should_panic
/// heddle::check::replay("hc1.not-a-real-token", || {});
/// ```
#[track_caller]
pub fn replay<F: Fn() + Send + Sync + 'static>(token: &str, f: F) {
    if let Err(failure) = try_replay(token, f) {
        panic!("{failure}");
    }
}

/// Like [`replay`], returning the outcome instead of panicking.
///
/// # Errors
///
/// [`ReplayError::Token`] for a bad token, [`ReplayError::Failed`] with the report if
/// the schedule failed (or diverged).
///
/// ```
/// use heddle::check::{try_replay, ReplayError};
/// assert!(matches!(try_replay("hc7.AAAA", || {}), Err(ReplayError::Token(_))));
/// ```
#[track_caller]
pub fn try_replay<F: Fn() + Send + Sync + 'static>(token: &str, f: F) -> Result<(), ReplayError> {
    let at = std::panic::Location::caller();
    let schedule = token::decode(token).map_err(ReplayError::Token)?;
    let f: Arc<dyn Fn() + Send + Sync> = Arc::new(f);
    let _watching = Watching::start();
    let steps = schedule.choices.len();
    // Past the recorded steps the replay carries on without preempting, so a test that
    // was fixed since passes; only a recorded step-budget failure stops where it did.
    let max_steps = if schedule.step_budget {
        steps.max(1)
    } else {
        DEFAULT_MAX_STEPS.max(steps + 1)
    };
    let mut replay = Replay::new(schedule.choices, true);
    let mut outcome = exec::run_execution(&f, &mut replay, max_steps, at);
    if outcome.fingerprint_after(steps) != Some(schedule.fingerprint)
        && !matches!(outcome.failure, Some(Failure::Diverged(_)))
    {
        outcome.failure = Some(Failure::Diverged(
            "the replayed execution took different steps than the recorded one \
             (same choices, other operations): something the checker does not \
             control changed it (real time, randomness, I/O, std threads or locks, \
             or a changed test)"
                .to_string(),
        ));
    }
    match outcome.failure {
        None => Ok(()),
        Some(_) => Err(ReplayError::Failed(Box::new(Report::new(
            outcome,
            "replay".to_string(),
            1,
        )))),
    }
}

/// Why [`try_replay`] did not pass.
///
/// ```
/// let e = heddle::check::try_replay("junk", || {}).unwrap_err();
/// assert!(e.to_string().contains("replay token"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ReplayError {
    /// The token could not be read.
    Token(TokenError),
    /// The schedule failed (reproduced) or diverged; the report says which.
    Failed(Box<Report>),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Token(e) => write!(f, "{e}"),
            ReplayError::Failed(r) => write!(f, "{r}"),
        }
    }
}

impl std::error::Error for ReplayError {}

/// While alive, acquisitions take the instrumented path (where checked threads find
/// their schedule points).
struct Watching;

impl Watching {
    fn start() -> Self {
        crate::wait::observe::checker_started();
        Watching
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        crate::wait::observe::checker_finished();
    }
}

/// Executions shrinking may spend on one failure.
const SHRINK_ATTEMPTS: usize = 1500;
/// And wall-clock time (a long execution makes each attempt slow).
const SHRINK_TIME: Duration = Duration::from_secs(3);
/// And stacks of unfinished threads that failing attempts leave behind (each a memory
/// mapping; a process has some tens of thousands): per shrink, and in all.
const SHRINK_LEAKS: usize = 2048;
const PROCESS_LEAKS: usize = 12_000;

/// Shrink a failing schedule to the fewest preemptions, then the fewest steps, that
/// still fail the same way (greedy: the first candidate that improves is kept, and the
/// search starts again from it, until no candidate improves or the budget is spent).
///
/// Candidates work on *blocks* (maximal runs of one thread): at each preemption (a
/// switch away from a thread that could go on), pull the preempted thread's next block
/// forward to continue it there, or push the preempting block later, next to its own
/// thread's next block (or to the end); both keep every other step's order. Two
/// cheaper ones change a single choice: continue the preempted thread for one step,
/// or stop the schedule there and let it run on without preemption.
fn shrink(
    f: &Arc<dyn Fn() + Send + Sync>,
    mut best: Outcome,
    max_steps: usize,
    at: &'static std::panic::Location<'static>,
) -> Outcome {
    let started = Instant::now();
    let leaked = exec::leaked_stacks();
    let spent = || {
        let now = exec::leaked_stacks();
        started.elapsed() >= SHRINK_TIME || now - leaked > SHRINK_LEAKS || now > PROCESS_LEAKS
    };
    let mut attempts = 0;
    let rank = |o: &Outcome| (o.preemptions(), o.trace.len());
    'improve: while attempts < SHRINK_ATTEMPTS && !spent() {
        if best.preemptions() == 0 && best.trace.len() <= 1 {
            break;
        }
        for candidate in candidates(&best) {
            if attempts >= SHRINK_ATTEMPTS || spent() {
                break 'improve;
            }
            attempts += 1;
            let mut replay = Replay::new(candidate, false);
            let outcome = exec::run_execution(f, &mut replay, max_steps, at);
            if same_failure(&outcome.failure, &best.failure) && rank(&outcome) < rank(&best) {
                exec::recycle(std::mem::replace(&mut best, outcome));
                continue 'improve;
            }
            exec::recycle(outcome);
        }
        break;
    }
    best
}

/// The schedules to try next, most promising (latest preemption) first.
fn candidates(best: &Outcome) -> Vec<Vec<usize>> {
    let choices = &best.choices;
    // Blocks: (thread, start, end).
    let mut blocks: Vec<(usize, usize, usize)> = Vec::new();
    for (i, &t) in choices.iter().enumerate() {
        match blocks.last_mut() {
            Some(b) if b.0 == t => b.2 = i + 1,
            _ => blocks.push((t, i, i + 1)),
        }
    }
    let mut out = Vec::new();
    for k in (1..blocks.len()).rev() {
        let (t, start, end) = blocks[k];
        let preempted = best.trace.get(start).is_some_and(|s| s.preempted);
        let p = blocks[k - 1].0;
        // Pull p's next block forward, to continue p here.
        if let Some(&(_, s2, e2)) = blocks[k + 1..].iter().find(|b| b.0 == p) {
            let mut c = choices[..start].to_vec();
            c.extend_from_slice(&choices[s2..e2]);
            c.extend_from_slice(&choices[start..s2]);
            c.extend_from_slice(&choices[e2..]);
            out.push(c);
        }
        // Push t's block later: next to t's next block, or to the end.
        let next_t = blocks[k + 1..].iter().find(|b| b.0 == t).map(|b| b.1);
        let to = next_t.unwrap_or(choices.len());
        let mut c = choices[..start].to_vec();
        c.extend_from_slice(&choices[end..to]);
        c.extend_from_slice(&choices[start..end]);
        c.extend_from_slice(&choices[to..]);
        out.push(c);
        if preempted {
            let mut keep_tail = choices.clone();
            keep_tail[start] = p;
            out.push(keep_tail);
            let mut cut_tail = choices[..start].to_vec();
            cut_tail.push(p);
            out.push(cut_tail);
        }
    }
    out.retain(|c| c != choices);
    out
}

fn same_failure(a: &Option<Failure>, b: &Option<Failure>) -> bool {
    match (a, b) {
        (Some(Failure::Panic { message: x, .. }), Some(Failure::Panic { message: y, .. })) => {
            x == y
        }
        (Some(Failure::Deadlock { .. }), Some(Failure::Deadlock { .. })) => true,
        (Some(Failure::LeftRunning(_)), Some(Failure::LeftRunning(_))) => true,
        _ => false,
    }
}

/// What a passing exploration covered.
///
/// ```
/// let c = heddle::check::Checker::random().iterations(4).run(|| {});
/// assert!(c.to_string().ends_with(", 4 executions"));
/// ```
#[derive(Debug, Clone)]
pub struct Coverage {
    description: String,
    executions: usize,
    exhaustive: bool,
    elapsed: Duration,
}

impl Coverage {
    /// How many executions ran.
    ///
    /// ```
    /// assert_eq!(heddle::check::Checker::random().iterations(2).run(|| {}).executions(), 2);
    /// ```
    pub fn executions(&self) -> usize {
        self.executions
    }

    /// Whether DFS ran every schedule within its bound, or DPOR every interleaving.
    ///
    /// ```
    /// assert!(!heddle::check::Checker::random().iterations(2).run(|| {}).is_exhaustive());
    /// ```
    pub fn is_exhaustive(&self) -> bool {
        self.exhaustive
    }

    /// Wall-clock time the exploration took.
    ///
    /// ```
    /// let c = heddle::check::Checker::random().iterations(2).run(|| {});
    /// assert!(c.elapsed().as_secs() < 60);
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exhaustive && self.description == "DPOR" {
            write!(f, "exhaustive DPOR: {} executions", self.executions)
        } else if self.exhaustive {
            write!(
                f,
                "exhaustive {}: {} executions",
                self.description.trim_start_matches("DFS "),
                self.executions
            )
        } else {
            write!(f, "{}, {} executions", self.description, self.executions)
        }
    }
}

/// A failing schedule: what failed, the numbered steps, and the replay token.
///
/// ```
/// use heddle::check::Checker;
/// let report = Checker::random()
///     .iterations(1)
///     .explore(|| panic!("boom"))
///     .unwrap_err();
/// assert!(report.message().contains("boom"));
/// assert!(report.token().starts_with("hc1."));
/// ```
#[derive(Debug, Clone)]
pub struct Report {
    text: String,
    message: String,
    token: String,
    executions: usize,
    preemptions: usize,
    steps: usize,
}

impl Report {
    /// Say what shrinking did: the schedule found had `found` (preemptions, steps).
    fn shrunk_from(&mut self, found: (usize, usize)) {
        let (preemptions, steps) = found;
        let marker = "\nschedule: ";
        if let Some(i) = self.text.find(marker) {
            let note = if (preemptions, steps) == (self.preemptions, self.steps) {
                "\n(as found: no schedule with fewer preemptions, then fewer steps, \
                 failed the same way)\n"
                    .to_string()
            } else {
                format!(
                    "\n(shrunk from {preemptions} preemption{} and {steps} steps as found, to the \
                     fewest preemptions, then the fewest steps, that fail the same way)\n",
                    if preemptions == 1 { "" } else { "s" }
                )
            };
            self.text.insert_str(i, &note);
        }
    }

    fn new(outcome: Outcome, strategy: String, executions: usize) -> Self {
        let step_budget = matches!(outcome.failure, Some(Failure::StepBudget(_)));
        let token = token::encode(&outcome.choices, outcome.fingerprint, step_budget);
        let failure = outcome.failure.as_ref().expect("a failing outcome");
        let message = describe_failure(failure, &outcome.names);
        let preemptions = outcome.preemptions();
        let mut text = String::new();
        let _ = writeln!(
            text,
            "heddle check: a schedule FAILED (execution {executions}, {strategy})\n"
        );
        for line in message.lines() {
            let _ = writeln!(text, "  {line}");
        }
        let _ = writeln!(
            text,
            "\nschedule: {} steps, {preemptions} preemption{} (marked *):",
            outcome.trace.len(),
            if preemptions == 1 { "" } else { "s" }
        );
        let width = outcome.names.iter().map(String::len).max().unwrap_or(4);
        const SHOWN: usize = 400;
        let skip = outcome.trace.len().saturating_sub(SHOWN);
        if skip > 0 {
            let _ = writeln!(text, "  … {skip} earlier steps …");
        }
        for (n, step) in outcome.trace.iter().enumerate().skip(skip) {
            if let Some(t) = step.timeout_fired {
                let _ = writeln!(
                    text,
                    "        (virtual time advances to {t:?}: a timed wait expires)"
                );
            }
            let object = show(step.op.object, &outcome.names);
            let _ = writeln!(
                text,
                "  {}{:>4}  {:<width$}  {:<16} {:<40} {}",
                if step.preempted { '*' } else { ' ' },
                n + 1,
                outcome.names[step.thread],
                step.op.what,
                object,
                short(step.op.at),
            );
        }
        let _ = writeln!(
            text,
            "\nreplay this exact schedule with:\n  heddle::check::replay(\"{token}\", || {{ /* the same test */ }});"
        );
        Report {
            text,
            message,
            token,
            executions,
            preemptions,
            steps: outcome.trace.len(),
        }
    }

    /// What failed: the panic message, the deadlock, or the misuse.
    ///
    /// ```
    /// let r = heddle::check::Checker::random().iterations(1).explore(|| panic!("x")).unwrap_err();
    /// assert!(r.message().contains("panicked"));
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The replay token for [`replay`].
    ///
    /// ```
    /// let r = heddle::check::Checker::random().iterations(1).explore(|| panic!("x")).unwrap_err();
    /// assert!(heddle::check::try_replay(r.token(), || panic!("x")).is_err());
    /// ```
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Which execution failed (1-based).
    ///
    /// ```
    /// let r = heddle::check::Checker::random().iterations(1).explore(|| panic!("x")).unwrap_err();
    /// assert_eq!(r.execution(), 1);
    /// ```
    pub fn execution(&self) -> usize {
        self.executions
    }

    /// Steps in the (shrunk) failing schedule.
    ///
    /// ```
    /// let r = heddle::check::Checker::random().iterations(1).explore(|| panic!("x")).unwrap_err();
    /// assert_eq!(r.steps(), 1);
    /// ```
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Preemptions in the (shrunk) failing schedule.
    ///
    /// ```
    /// let r = heddle::check::Checker::random().iterations(1).explore(|| panic!("x")).unwrap_err();
    /// assert_eq!(r.preemptions(), 0);
    /// ```
    pub fn preemptions(&self) -> usize {
        self.preemptions
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Report {}

/// How a trace names an object: `Lock#2 (created src/bank.rs:40)`, or for a join the
/// thread joined.
fn show(object: Option<exec::Object>, names: &[String]) -> String {
    match object {
        None => String::new(),
        Some(o) if o.site.is_none() && o.kind == "Thread" && o.instance > 0 => names
            .get(o.instance as usize - 1)
            .map_or_else(|| o.to_string(), |n| format!("thread '{n}'")),
        Some(o) => o.to_string(),
    }
}

fn describe_failure(failure: &Failure, names: &[String]) -> String {
    match failure {
        Failure::Panic {
            thread,
            message,
            at,
        } => format!(
            "thread '{thread}' panicked{}: {message}",
            at.as_ref().map(|a| format!(" at {a}")).unwrap_or_default()
        ),
        Failure::Deadlock { blocked, cycle } => {
            let mut s = String::from("deadlock: every thread is blocked and none has a timeout\n");
            if cycle.is_empty() {
                for (name, op, reading) in blocked {
                    let object = show(op.object, names);
                    let _ = writeln!(
                        s,
                        "  '{name}' waits in {} {object} at {}{}",
                        op.what,
                        short(op.at),
                        if *reading {
                            ", and holds it for reading itself: a read lock cannot be \
                             upgraded to a write lock; release it first"
                        } else {
                            ""
                        }
                    );
                }
            } else {
                let _ = writeln!(s, "lock cycle:");
                for link in cycle {
                    let _ = writeln!(
                        s,
                        "  '{}' waits for {} (at {}), held by '{}' (taken at {})",
                        link.thread,
                        link.waits_for,
                        short(link.waits_at),
                        link.held_by,
                        short(link.taken_at)
                    );
                }
            }
            s
        }
        Failure::StepBudget(n) => format!(
            "the execution ran more than {n} schedule points without finishing: a livelock, \
             an unbounded loop, or a wait on something the checker does not control (std \
             locks, channels, I/O, sleeps). Raise the budget with .max_steps(n) if it is legitimate"
        ),
        Failure::LeftRunning(names) => {
            format!(
            "the test closure returned while {} still running: {}. Join every thread a checked \
             test starts, so its outcome cannot depend on what happens after the check",
            if names.len() == 1 { "a thread was" } else { "threads were" },
            names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
        )
        }
        Failure::Diverged(why) => format!("replay diverged: {why}"),
    }
}
