//! How the scheduler picks the next thread at each schedule point.
//!
//! * [`Random`]: uniform among the runnable threads at every point.
//! * [`Pct`]: Probabilistic Concurrency Testing (Burckhardt et al., ASPLOS 2010): random
//!   distinct priorities, always run the highest-priority runnable thread, and at `d - 1`
//!   random steps lower the running thread's priority. A bug of depth `d` is found with
//!   probability at least `1 / (n * k^(d-1))` per execution (n threads, k steps).
//! * [`Pos`]: partial-order sampling (Yuan, Yang, Gu, CAV 2018, its basic form): every
//!   pending operation gets a random priority when it becomes a thread's next one, and
//!   the highest-priority runnable one runs. An operation that drew a low priority
//!   stays delayed however many threads start after it, which is what a bug needing a
//!   late-spawned thread to slip between two steps of an early one takes (random walk
//!   and PCT give each new thread a fresh chance to run it first).
//! * [`Dfs`]: systematic, stateless depth-first exploration of every schedule with at
//!   most `bound` preemptions (switching away from a thread that could have continued).
//! * [`Replay`]: follow a recorded list of choices exactly.
//!
//! Choices are recorded as thread indices (spawn order within the execution), which is
//! what a replay token stores.

use super::exec::Run;
use super::rng::Rng;

/// What the scheduler knows at a schedule point.
pub(crate) struct Point<'a> {
    /// Runnable threads, in index order.
    pub(crate) runnable: &'a [usize],
    /// The thread that ran last, if it is still runnable.
    pub(crate) current: Option<usize>,
    /// The thread that ran last, runnable or not.
    pub(crate) last_thread: Option<usize>,
    /// Step number within the execution.
    pub(crate) step: usize,
    /// What the previous step touched.
    pub(crate) last: &'a [super::exec::Access],
    /// For a thread: the object its pending operation touches (and whether it writes),
    /// and the object a join on it waits on.
    pub(crate) pending: &'a dyn Fn(usize) -> (Option<(usize, bool)>, usize),
}

/// A scheduling policy, driven by the explorer.
pub(crate) trait Strategy {
    /// Start an execution; `false` when there is nothing left to explore.
    fn begin(&mut self) -> bool;
    /// Pick one of `point.runnable`; `Err` with a message if the strategy cannot (a
    /// replay that diverged).
    fn choose(&mut self, point: &Point<'_>) -> Result<usize, String>;
    /// The execution ended; `run` is what it did.
    fn end(&mut self, run: &Run<'_>);
}

/// Uniformly random choices.
pub(crate) struct Random {
    rng: Rng,
}

impl Random {
    pub(crate) fn new(seed: u64) -> Self {
        Random {
            rng: Rng::new(seed),
        }
    }
}

impl Strategy for Random {
    fn begin(&mut self) -> bool {
        true
    }
    fn choose(&mut self, point: &Point<'_>) -> Result<usize, String> {
        Ok(point.runnable[self.rng.below(point.runnable.len())])
    }
    fn end(&mut self, _run: &Run<'_>) {}
}

/// Partial-order sampling: a random priority per pending operation.
pub(crate) struct Pos {
    rng: Rng,
    /// The priority of each thread's pending operation; `None` once it ran (its next
    /// operation draws a new one when it is next considered).
    priorities: Vec<Option<u64>>,
}

impl Pos {
    pub(crate) fn new(seed: u64) -> Self {
        Pos {
            rng: Rng::new(seed),
            priorities: Vec::new(),
        }
    }
}

impl Strategy for Pos {
    fn begin(&mut self) -> bool {
        self.priorities.clear();
        true
    }

    fn choose(&mut self, point: &Point<'_>) -> Result<usize, String> {
        let mut best = (0, point.runnable[0]);
        for &t in point.runnable {
            if self.priorities.len() <= t {
                self.priorities.resize(t + 1, None);
            }
            // POS proper: an operation racing with the step just taken (same object,
            // one of them writes) draws a new priority.
            if self.priorities[t].is_some() && Some(t) != point.last_thread {
                if let (Some((object, write)), _) = (point.pending)(t) {
                    let races = point
                        .last
                        .iter()
                        .any(|a| a.object == object && (a.write || write));
                    if races {
                        self.priorities[t] = None;
                    }
                }
            }
            let p = *self.priorities[t].get_or_insert_with(|| self.rng.next_u64());
            if p >= best.0 {
                best = (p, t);
            }
        }
        self.priorities[best.1] = None;
        Ok(best.1)
    }

    fn end(&mut self, _run: &Run<'_>) {}
}

/// The default: two round-robin executions first (switch to another runnable thread at
/// every point, cycling one way then the other: the schedules that interleave most,
/// which show most two-thread races and lock-order deadlocks at once), then partial-
/// order sampling, with every eighth execution a random walk that switches readily
/// (a different kind of schedule, should POS be unlucky).
pub(crate) struct Default {
    execution: usize,
    pos: Pos,
    rng: Rng,
}

impl Default {
    pub(crate) fn new(seed: u64) -> Self {
        Default {
            execution: 0,
            pos: Pos::new(seed),
            rng: Rng::new(seed ^ 0x5851_f42d_4c95_7f2d),
        }
    }
}

impl Strategy for Default {
    fn begin(&mut self) -> bool {
        self.execution += 1;
        self.pos.begin()
    }

    fn choose(&mut self, point: &Point<'_>) -> Result<usize, String> {
        let r = point.runnable;
        match self.execution {
            1 | 2 => {
                // The next runnable thread after the one that ran last, cyclically.
                let Some(last) = point.last_thread else {
                    return Ok(r[0]);
                };
                let forward = self.execution == 2;
                let pick = if forward {
                    r.iter().copied().find(|&t| t > last).unwrap_or(r[0])
                } else {
                    r.iter()
                        .rev()
                        .copied()
                        .find(|&t| t < last)
                        .unwrap_or(r[r.len() - 1])
                };
                Ok(pick)
            }
            n if n % 8 != 0 => self.pos.choose(point),
            _ => {
                // A random walk that switches more readily: the running thread goes on
                // with probability 1/k² (k runnable) instead of 1/k, as if every
                // operation had a schedule point before it and one after it.
                let k = r.len();
                match point.current {
                    Some(c) if k > 1 && self.rng.below(k * k) != 0 => {
                        let i = self.rng.below(k - 1);
                        let pick = r.iter().copied().filter(|&t| t != c).nth(i);
                        Ok(pick.expect("k - 1 others"))
                    }
                    Some(c) if k > 1 => Ok(c),
                    _ => Ok(r[self.rng.below(k)]),
                }
            }
        }
    }

    fn end(&mut self, run: &Run<'_>) {
        self.pos.end(run);
    }
}

/// Probabilistic Concurrency Testing with bug depth `depth`.
pub(crate) struct Pct {
    rng: Rng,
    depth: usize,
    /// Estimate of an execution's length, learned from the longest one seen.
    expected_steps: usize,
    priorities: Vec<usize>,
    change_points: Vec<usize>,
    next_low: usize,
}

impl Pct {
    pub(crate) fn new(seed: u64, depth: usize) -> Self {
        Pct {
            rng: Rng::new(seed),
            depth: depth.max(1),
            expected_steps: 16,
            priorities: Vec::new(),
            change_points: Vec::new(),
            next_low: 0,
        }
    }

    fn priority(&mut self, thread: usize) -> usize {
        while self.priorities.len() <= thread {
            // New threads get a random high priority: above every lowered one (which
            // are < depth), distinct by construction (random key, index tie-break).
            let p = self.depth + self.rng.below(1 << 20) * 64 + self.priorities.len() % 64;
            self.priorities.push(p);
        }
        self.priorities[thread]
    }
}

impl Strategy for Pct {
    fn begin(&mut self) -> bool {
        self.priorities.clear();
        self.change_points.clear();
        for _ in 1..self.depth {
            let at = 1 + self.rng.below(self.expected_steps.max(1));
            self.change_points.push(at);
        }
        self.next_low = self.depth - 1;
        true
    }

    fn choose(&mut self, point: &Point<'_>) -> Result<usize, String> {
        if self.change_points.contains(&point.step) {
            if let Some(current) = point.current {
                self.priority(current);
                self.next_low = self.next_low.saturating_sub(1);
                self.priorities[current] = self.next_low;
            }
        }
        let mut best = point.runnable[0];
        let mut best_priority = self.priority(best);
        for &t in &point.runnable[1..] {
            let p = self.priority(t);
            if p > best_priority {
                best = t;
                best_priority = p;
            }
        }
        Ok(best)
    }

    fn end(&mut self, run: &Run<'_>) {
        self.expected_steps = self.expected_steps.max(run.trace.len());
    }
}

/// One decision of a depth-first exploration.
struct Frame {
    options: Vec<usize>,
    index: usize,
    /// Preemptions spent before this decision.
    spent: usize,
    /// The thread whose continuation costs no preemption here, if any.
    current: Option<usize>,
}

impl Frame {
    fn cost(&self, choice: usize) -> usize {
        match self.current {
            Some(c) if c != choice => 1,
            _ => 0,
        }
    }
}

/// Bounded depth-first exploration.
pub(crate) struct Dfs {
    bound: usize,
    stack: Vec<Frame>,
    depth: usize,
    started: bool,
    exhausted: bool,
}

impl Dfs {
    pub(crate) fn new(bound: usize) -> Self {
        Dfs {
            bound,
            stack: Vec::new(),
            depth: 0,
            started: false,
            exhausted: false,
        }
    }

    /// Move to the next unexplored schedule; `false` when there is none.
    fn advance(&mut self) -> bool {
        while let Some(frame) = self.stack.last_mut() {
            while frame.index + 1 < frame.options.len() {
                frame.index += 1;
                let choice = frame.options[frame.index];
                if frame.spent + frame.cost(choice) <= self.bound {
                    return true;
                }
            }
            self.stack.pop();
        }
        false
    }
}

impl Strategy for Dfs {
    fn begin(&mut self) -> bool {
        if self.exhausted {
            return false;
        }
        if self.started && !self.advance() {
            self.exhausted = true;
            return false;
        }
        self.started = true;
        self.depth = 0;
        true
    }

    fn choose(&mut self, point: &Point<'_>) -> Result<usize, String> {
        let depth = self.depth;
        self.depth += 1;
        if let Some(frame) = self.stack.get(depth) {
            let choice = frame.options[frame.index];
            if !point.runnable.contains(&choice) {
                return Err(format!(
                    "the program is not deterministic: at step {} thread #{choice} was \
                     runnable in an earlier execution with the same schedule, and is not now",
                    point.step
                ));
            }
            return Ok(choice);
        }
        // A new decision: the non-preempting choice first, then the others in order.
        let mut options = Vec::with_capacity(point.runnable.len());
        if let Some(c) = point.current {
            options.push(c);
        }
        options.extend(
            point
                .runnable
                .iter()
                .copied()
                .filter(|&t| Some(t) != point.current),
        );
        let spent = self
            .stack
            .last()
            .map_or(0, |f| f.spent + f.cost(f.options[f.index]));
        self.stack.push(Frame {
            options,
            index: 0,
            spent,
            current: point.current,
        });
        Ok(self.stack[depth].options[0])
    }

    fn end(&mut self, run: &Run<'_>) {
        // Frames past the steps actually taken belong to a longer, earlier execution.
        self.stack.truncate(run.trace.len().min(self.stack.len()));
    }
}

/// Follow a recorded schedule; past its end, continue the current thread (or the
/// first runnable one), which adds no preemption.
pub(crate) struct Replay {
    choices: Vec<usize>,
    /// Fail when a recorded choice cannot run (a replay token: the execution diverged)
    /// or, shrinking, skip it for the next recorded choice that can.
    strict: bool,
    /// Next recorded choice to follow (shrinking skips some, so it runs ahead of the
    /// step number).
    next: usize,
}

impl Replay {
    pub(crate) fn new(choices: Vec<usize>, strict: bool) -> Self {
        Replay {
            choices,
            strict,
            next: 0,
        }
    }
}

impl Strategy for Replay {
    fn begin(&mut self) -> bool {
        self.next = 0;
        true
    }

    fn choose(&mut self, point: &Point<'_>) -> Result<usize, String> {
        let fallback = point.current.unwrap_or(point.runnable[0]);
        if self.strict {
            return match self.choices.get(point.step) {
                Some(&t) if point.runnable.contains(&t) => Ok(t),
                Some(&t) => Err(format!(
                    "replay diverged at step {}: the schedule runs thread #{t} there, but it \
                     is not runnable (runnable: {:?}). Something the checker does not control \
                     changed the execution: real time, randomness, I/O, a std thread or lock, \
                     or a different test closure",
                    point.step + 1,
                    point.runnable
                )),
                None => Ok(fallback),
            };
        }
        // A candidate schedule while shrinking: a recorded step of a thread that cannot
        // run now (it blocked earlier than in the recording) is dropped; the thread's
        // remaining steps run when later choices or the default reach them.
        while let Some(&t) = self.choices.get(self.next) {
            self.next += 1;
            if point.runnable.contains(&t) {
                return Ok(t);
            }
        }
        Ok(fallback)
    }

    fn end(&mut self, _run: &Run<'_>) {}
}
